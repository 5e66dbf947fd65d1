"""Voice of the customer: language, sentiment, themes and their impact on NPS, offline.

Modules, one concern each:

- `language`   which language a comment is written in (py3langid's bundled model);
- `tokens`     words of a comment and their lemmas (simplemma's bundled dictionaries);
- `stopwords`  small per-language stop-word lists for the automatic themes;
- `sentiment`  the score band (primary label) and lexicon sentiment (VADER, English only);
- `taxonomy`   the user-editable keyword taxonomy (theme → keywords per language);
- `topics`     automatic themes per language (TF-IDF + NMF) with top-term labels;
- `pipeline`   all of the above over a frame of comments (pure: no store);
- `tables`     the stored result tables and their columns;
- `persist`    compute / update / re-match and store the results through the Store;
- `catalogue`  theme ids → readable labels;
- `impact`     per-theme volume, share and NPS with vs without (pushed down with Ibis);
- `verbatims`  the comments behind a theme, paged in the engine;
- `cli`        `python -m cxdata themes`.

Nothing here downloads anything: every model, dictionary and lexicon ships inside the
installed packages. Nothing here imports streamlit.
"""
