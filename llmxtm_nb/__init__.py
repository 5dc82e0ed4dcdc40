"""Notebook-first toolkit that improves cross-lingual topic models with LLM refinement, with a person in charge of every LLM edit

Modules:

- `llmxtm_nb.cnpmi`: Index a document-aligned bilingual reference corpus once as sparse matrices, then score any set of cross-lingual topics with a few sparse products.
- `llmxtm_nb.metrics`: Reading topics off β, measuring how distinct they are (topic uniqueness) and folding coherence and uniqueness into one topic-quality number."""

__version__ = "0.1.0"
