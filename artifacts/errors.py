"""Why an artifact could not be used. Each message names the file at fault."""


class ArtifactError(Exception):
    """Base class: an artifact in the model store cannot be used."""


class ArtifactNotFoundError(ArtifactError):
    """The model, version or one of its files does not exist."""


class ArtifactIntegrityError(ArtifactError):
    """A file's sha256 differs from the manifest, or its tensors are not what the model needs."""


class ManifestError(ArtifactError):
    """manifest.json is missing fields, has wrong types or is not JSON."""
