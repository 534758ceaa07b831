"""HTTP adapters over the runtime: routes, schemas, errors, middleware."""
