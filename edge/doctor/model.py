"""Model check: the model loads, its sha256 matches its card, which provider runs it, its warm latency.

The same ModelRunner `moldpilot run` uses (it refuses a model whose hash or input shape differs from
its card), sized for one frame of one crop: the doctor reports the provider onnxruntime really picked,
and warns when it is not the first one station.yaml asks for (a Jetson silently on CPU misses every
deadline). The models that `recipes:` name get the same check, one row for all of them.
"""

from __future__ import annotations

from edge.config import ModelSection, RecipeSection
from edge.doctor.result import CheckResult, Status, failed, passed
from edge.errors import ModelError
from edge.pipeline.providers import PROVIDERS
from edge.pipeline.runner import ModelRunner

NAME = "model"
RECIPES_NAME = "recipe models"


def check_model(model: ModelSection) -> CheckResult:
    try:
        runner = ModelRunner(model.path, providers=model.providers, max_batch=1,
                             intra_op_threads=model.threads, trt_cache_dir=model.engine_cache_dir)
    except ModelError as exc:
        return failed(NAME, str(exc), "copy the model and its .card.json again from the release (or "
                      "re-export it with the trainer); never edit a shipped model by hand")
    try:
        card, provider, warm_ms = runner.card, runner.provider, runner.warm_latency_ms.get(1)
    finally:
        runner.close()
    latency = f"warm latency {warm_ms:.1f} ms per crop" if warm_ms is not None else "not warmed up"
    detail = f"{card.name} sha256 {card.sha256[:12]}… matches its card; runs on {provider}, {latency}"
    wanted = PROVIDERS[model.providers[0]]
    if provider != wanted:
        return CheckResult(NAME, Status.WARN, f"{detail} (asked for {wanted})",
                           f"install the onnxruntime build with {wanted} (e.g. onnxruntime-gpu on a Jetson) "
                           "or list the provider that exists in model.providers")
    return passed(NAME, detail)


def check_recipe_models(recipes: dict[int, RecipeSection], model: ModelSection) -> CheckResult:
    """Each model file a recipe names, checked as the model section's (its providers and threads)."""
    files: dict[str, list[int]] = {}
    for recipe_id, recipe in sorted(recipes.items()):
        if recipe.model and recipe.model != model.path:
            files.setdefault(recipe.model, []).append(recipe_id)
    results = {path: check_model(model.model_copy(update={"path": path})) for path in files}
    bad = [(path, r) for path, r in results.items() if r.status is not Status.PASS]
    if not bad:
        return passed(RECIPES_NAME, "; ".join(f"recipe {', '.join(map(str, files[p]))}: {r.detail}"
                                              for p, r in results.items()))
    path, worst = max(bad, key=lambda item: item[1].status is Status.FAIL)
    detail = f"recipe {', '.join(map(str, files[path]))} ({path}): {worst.detail}"
    if len(bad) > 1:
        detail += f"; {len(bad) - 1} more recipe model(s) not PASS"
    return CheckResult(RECIPES_NAME, worst.status, detail, worst.fix)
