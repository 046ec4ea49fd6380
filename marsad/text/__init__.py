"""Article text: extraction from HTML, boilerplate removal, normalisation, language."""
