"""Service templates: a gallery of parameterised definitions, importers, deploy, updates."""
