"""The planner's web form (``app.py``) kept testable: the form model, presets, the
closed-form answer, charts and downloads live here; ``app.py`` only lays them out."""
