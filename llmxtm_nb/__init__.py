"""Notebook-first toolkit that improves cross-lingual topic models with LLM refinement, with a person in charge of every LLM edit

Modules:

- `llmxtm_nb.api`: One object over a corpus and settings: Phase 1, refine, review, Phase 2, evaluate, topics, transform, save/load — and `run_main_job`, the whole pipeline behind `llmxtm demo` and `llmxtm run`.
- `llmxtm_nb.backbone`: `CrossLingualTopicModel`, the interface every Phase-1 backbone (NMTM, InfoCTM, XTRA) implements, and the pieces of a ProdLDA-style variational topic model they share.
- `llmxtm_nb.bench`: `llmxtm bench` runs the benchmark scripts of every area, writes `BENCHMARKS.md` with the machine, device, seeds and versions behind each figure, and flags figures that got worse since the last recorded run.
- `llmxtm_nb.classify`: How useful are the topics as features? Train an SVM on θ of train documents, test on θ of test documents, within one language and across languages.
- `llmxtm_nb.cnpmi`: Index a document-aligned bilingual reference corpus once as sparse matrices, then score any set of cross-lingual topics with a few sparse products.
- `llmxtm_nb.data`: One data model for a two-language corpus: vocabularies, sparse bags of words, texts, labels and a bilingual dictionary, loaded from the published benchmark format and checked on the way in.
- `llmxtm_nb.demo`: A small English–Chinese corpus with planted themes, shipped with the package: the default data of the tutorials and the tests, loaded offline in well under a second.
- `llmxtm_nb.dictionary`: Word-translation pairs between the two languages of a corpus: parsing, translation matrices, NMTM's frequency-weighted maps, and coverage.
- `llmxtm_nb.download`: Fetch a published benchmark at a pinned commit, verify every file's SHA-256, resume partial downloads, and fail offline with a message that says what to do by hand.
- `llmxtm_nb.evaluate`: Theme recovery on the demo corpus, one `evaluate` for fitted models or raw outputs, and tables that compare runs with the best value of each column marked.
- `llmxtm_nb.faults`: A fake LLM that answers refinement prompts, and a transport that fails a set share of requests the way real APIs fail: rate limits, timeouts, server errors, dropped connections, truncated and malformed bodies.
- `llmxtm_nb.infoctm`: InfoCTM (Wu et al. 2023): per-language VAEs whose topic-word vectors of linked words are pulled together by TAMI, a contrastive (mutual-information) loss — computed with sparse masks and a hand-written backward pass.
- `llmxtm_nb.metrics`: Reading topics off β, measuring how distinct they are (topic uniqueness) and folding coherence and uniqueness into one topic-quality number.
- `llmxtm_nb.nmtm`: Neural Multilingual Topic Model (Wu et al. 2020): topic-word weights tied across languages through dictionary translation maps — computed as a sparse product plus a rank-one term, never as a dense V × V map.
- `llmxtm_nb.phase2`: A callback on the Phase-1 `Trainer` that refines the topics every F epochs and adds the MMD and document-alignment terms to the backbone's loss.
- `llmxtm_nb.plots`: Functions that return `plotly` figures. They need no widgets and no running kernel: show them in a notebook, save them as HTML, or embed them in the reviewer.
- `llmxtm_nb.refiners`: One interface, three back ends: Claude (Anthropic SDK), any OpenAI-compatible endpoint, and an offline embedding refiner that is not an LLM. Every request goes through a replayable transcript cache.
- `llmxtm_nb.review`: An ipywidgets 8 reviewer for one refinement event. Every button calls a plain method, so scripts and tests drive exactly the code path a person clicks; every decision lands in the refinement record, with who and when.
- `llmxtm_nb.tokenize`: From raw texts in two languages to a `BilingualCorpus`: tokenisers, vocabularies, bags of words and a seeded train/test split.
- `llmxtm_nb.trainer`: `build_backbone` and `Trainer`: Adam + StepLR, clipping, seeding, checkpoints that resume to the identical result, callbacks (Phase 2 hooks in here), and a guard that names the step and the loss term that went NaN.
- `llmxtm_nb.xtra`: XTRA (Nguyen et al. 2025): a shared encoder over language-specific projections of the BoW, aligned with document embeddings (InfoNCE), with k-means clusters of those embeddings (cluster contrast, β initialisation, prior), and a cross-lingual contrastive loss between projected topic-word vectors."""

__version__ = "0.1.0"
