"""Topic relevance: a YAML topic definition, phrase matching and an explainable score."""
