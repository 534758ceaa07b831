"""An example tinyserve plugin: an architecture and a task kind of its own."""
