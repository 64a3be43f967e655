"""Recipes as data: loading, resolving bases, every kind of bad input, runs and studies that start from one.

Recipes are generated in tmp_path: trickstack ships only recipes it derived itself.
"""

import json
from pathlib import Path

import jsonschema
import pytest

from trickstack.core.errors import UserError
from trickstack.core.records import SCHEMA_PATH, ResolvedRecipe, RunRecord
from trickstack.recipes.recipe import (
    Recipe,
    find_recipe,
    lineage,
    list_recipes,
    load_recipe,
    open_recipe,
    resolve,
    write_recipe,
)

R2016 = '''
[recipe]
workload = "mnist1d"
year = 2016
summary = "label smoothing and EMA"

[tricks.label_smoothing]
reason = "an example for the tests [not measured]"
params = { smoothing = 0.05 }

[tricks.ema]
reason = "an example for the tests"

[nuisance]
lr = 0.02
'''

R2018 = '''
[recipe]
workload = "mnist1d"
year = 2018
base = "2016"
summary = "mixup instead of EMA"

[tricks.mixup]
reason = "an example for the tests"

[tricks.label_smoothing]
reason = "less smoothing on top of mixup"
params = { smoothing = 0.02 }

[removed.ema]
reason = "an example for the tests"

[provenance]
study = "derive-mnist1d-2018"
date = "2026-11-21"
commit = "abc1234"
budget = { unit = "flops", value = 1.2e12 }
seeds = [0, 1, 2, 3, 4]
previous = "2016"
gain = 0.0123
ci = [0.004, 0.020]
p_value = 0.0031
accepted = true
evidence = "2018.runs.jsonl"
'''


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def squash(text: str) -> str:
    """Without whitespace: the CLI wraps long messages (and paths) at the terminal's width."""
    return "".join(text.split())


@pytest.fixture
def recipes(tmp_path) -> Path:
    write(tmp_path, "mnist1d/2016.toml", R2016)
    write(tmp_path, "mnist1d/2018.toml", R2018)
    return tmp_path / "mnist1d"


# ---- loading and resolution ----------------------------------------------------------------------


def test_a_recipe_resolves_its_base_drops_removed_tricks_and_fills_in_defaults(recipes):
    resolved = resolve(load_recipe(recipes / "2018.toml"))
    assert resolved.name == "mnist1d/2018" and resolved.workload == "mnist1d" and resolved.year == 2018
    assert resolved.stack == ["label_smoothing", "mixup"]  # ema removed; canonical order
    assert [t.params for t in resolved.tricks] == [{"smoothing": 0.02}, {"alpha": 0.2}]
    assert resolved.nuisance == {"lr": 0.02, "weight_decay": 0.0}  # lr from the base, the rest defaults
    assert resolved.overrides() == {"label_smoothing.smoothing": 0.02, "mixup.alpha": 0.2, "lr": 0.02, "weight_decay": 0.0}
    assert [r.name for r in lineage(load_recipe(recipes / "2018.toml"))] == ["mnist1d/2016", "mnist1d/2018"]


def test_re_parametrising_a_trick_keeps_the_base_values_it_does_not_give(tmp_path):
    write(tmp_path, "b/a/2019.toml", '[recipe]\nworkload = "mnist1d"\nyear = 2019\nsummary = "s"\n'
                                     '[tricks.lookahead]\nreason = "r"\nparams = { k = 10 }\n')
    # A base given as a path relative to the recipe's file, in a folder below it (a loose recipe's recipes
    # folder is its own folder: `recipes_folder`).
    path = write(tmp_path, "b/next.toml", '[recipe]\nworkload = "mnist1d"\nyear = 2020\nbase = "a/2019.toml"\n'
                                          'summary = "s"\n[tricks.lookahead]\nreason = "r"\nparams = { alpha = 0.3 }\n'
                                          '[nuisance]\nweight_decay = 0.01\n')
    resolved = resolve(load_recipe(path))
    assert resolved.tricks[0].params == {"k": 10, "alpha": 0.3}
    assert resolved.nuisance == {"lr": 0.01, "weight_decay": 0.01}


def test_write_then_load_gives_the_same_recipe_in_the_documented_format(recipes, tmp_path):
    original = load_recipe(recipes / "2018.toml")
    path = write_recipe(original, tmp_path / "copy" / "2018.toml")
    text = path.read_text()
    assert "[recipe]" in text and "[tricks.mixup]" in text and "[removed.ema]" in text and "[provenance]" in text
    assert "params = {smoothing = 0.02}" in text and 'date = "2026-11-21"' in text and "source" not in text
    again = load_recipe(path)
    assert again.model_dump(exclude={"source"}) == original.model_dump(exclude={"source"})
    assert write_recipe(again, tmp_path / "twice.toml").read_text() == text  # stable
    # Its base "2016" is looked up beside it; absent there, the shipped mnist1d/2016 is its base.
    from trickstack.recipes.recipe import recipes_root

    assert Path(lineage(again)[0].source) == recipes_root() / "mnist1d" / "2016.toml"


def test_write_recipe_from_a_model_built_in_code(tmp_path):
    recipe = Recipe.model_validate({"recipe": {"workload": "digits", "year": 2017, "summary": "warm-up"},
                                    "tricks": {"lr_warmup": {"reason": "r", "params": {"fraction": 0.1}}}})
    path = write_recipe(recipe, tmp_path / "digits" / "2017.toml")
    assert path.read_text().splitlines()[:5] == ["[recipe]", 'workload = "digits"', "year = 2017", 'summary = "warm-up"', ""]
    assert resolve(load_recipe(path)).tricks[0].params == {"fraction": 0.1}


def test_shipped_recipes_are_found_by_workload_and_year(recipes, monkeypatch, tmp_path):
    monkeypatch.setattr("trickstack.recipes.recipe.recipes_root", lambda: recipes.parent)
    assert [r.recipe.year for r in list_recipes("mnist1d")] == [2016, 2018] and list_recipes("digits") == []
    assert find_recipe("mnist1d", 2018).source == str(recipes / "2018.toml")
    assert resolve(open_recipe("mnist1d/2016")).stack == ["ema", "label_smoothing"]
    with pytest.raises(UserError, match=r"no recipe mnist1d/2017: .* \(shipped for mnist1d: 2016, 2018\)"):
        find_recipe("mnist1d", 2017)
    with pytest.raises(UserError, match="unknown workload 'mnist2d'"):
        open_recipe("mnist2d/2016")
    from trickstack.ablations.spec import StudySpec

    spec = StudySpec.from_toml_text(spec_text("mnist1d/2016"), source=str(tmp_path / "s.toml"))
    assert spec.base_recipe.name == "mnist1d/2016" and spec.study.base == ["ema", "label_smoothing"]
    # A recipe elsewhere whose base is a year falls back to the shipped recipe of that year.
    elsewhere = write(tmp_path, "mine.toml", R2018.replace("year = 2018", "year = 2019"))
    assert resolve(load_recipe(elsewhere)).name == "mnist1d/2019"
    write(recipes.parent, "digits/2016.toml", R2016)  # a mnist1d recipe in the digits folder
    with pytest.raises(UserError, match="but the file is in the folder of workload 'digits'"):
        list_recipes()


# ---- bad input: exit code 2, a message naming the file and the problem --------------------------

BAD = {
    "unknown trick": ("2016.toml", R2016.replace("[tricks.ema]", "[tricks.mixupp]"),
                      "2016.toml: tricks.mixupp: unknown trick 'mixupp' (did you mean: mixup"),  # more may follow
    "unknown key": ("2016.toml", R2016.replace('summary = "', 'colour = "red"\nsummary = "'),
                    "2016.toml: recipe.colour: Extra inputs are not permitted"),
    "missing reason": ("2016.toml", R2016.replace('reason = "an example for the tests"\n', ""),
                       "2016.toml: tricks.ema.reason: Field required"),
    "reason of two lines": ("2016.toml", R2016.replace('reason = "an example for the tests"\n', 'reason = """a\nb"""\n'),
                            "2016.toml: tricks.ema.reason: must be one non-empty line"),
    "malformed TOML": ("2016.toml", R2016 + "[tricks\n", "2016.toml: malformed TOML"),
    "parameter out of range": ("2016.toml", R2016.replace("0.05", "0.9"),
                               "2016.toml: tricks.label_smoothing.params: label_smoothing.smoothing = 0.9 is outside "
                               "its allowed range [0.0, 0.5]"),
    "unknown parameter": ("2016.toml", R2016.replace("{ smoothing", "{ smoothin"),
                          "2016.toml: tricks.label_smoothing.params: trick 'label_smoothing' has no parameter 'smoothin' "
                          "(did you mean: smoothing?)"),
    "trick after the year": ("2016.toml", R2016.replace("[tricks.ema]", "[tricks.sam]"),
                             "2016.toml: tricks.sam: trick 'sam' is from 2021, after the recipe's year 2016"),
    "year in the future": ("2999.toml", R2016.replace("2016", "2999"), "2999.toml: recipe.year: 2999 is after the current year"),
    "file named for another year": ("2017.toml", R2016, "2017.toml: recipe.year = 2016, but the file is named for 2017"),
    "unknown workload": ("2016.toml", R2016.replace('"mnist1d"', '"mnist2d"'),
                         "2016.toml: recipe.workload: unknown workload 'mnist2d' (did you mean: mnist1d?)"),
    "unknown nuisance": ("2016.toml", R2016.replace("lr = 0.02", "lrr = 0.02"),
                         "2016.toml: nuisance: workload 'mnist1d' has no nuisance hyperparameter 'lrr'"),
    "nuisance out of range": ("2016.toml", R2016.replace("lr = 0.02", "lr = 5.0"),
                              "2016.toml: nuisance: mnist1d.lr = 5.0 is outside its allowed range"),
    "conflicting tricks": ("2019.toml", R2016.replace("2016", "2019").replace("[tricks.label_smoothing]", "[tricks.swa]")
                           .replace("{ smoothing = 0.05 }", "{}"), "2019.toml: tricks: tricks 'ema' and 'swa' conflict"),
    "requirement not met": ("2016.toml", R2016.replace('"mnist1d"', '"shakespeare-char"').replace("lr = 0.02", ""),
                            "2016.toml: tricks: trick 'label_smoothing' requires classification, which workload "
                            "'shakespeare-char' does not provide"),
    "removed without a base": ("2016.toml", R2016 + '[removed.mixup]\nreason = "r"\n',
                               "2016.toml: removed.mixup: the recipe has no base to remove tricks from"),
    "removed and kept": ("2018.toml", R2018 + '[tricks.ema]\nreason = "r"\n',
                         "2018.toml: removed.ema: 'ema' is also under [tricks.ema]"),
    "removed but not in the base": ("2018.toml", R2018.replace("[removed.ema]", "[removed.swa]"),
                                    "2018.toml: removed.swa: trick 'swa' is not in the base recipe mnist1d/2016 "
                                    "(its tricks: ema, label_smoothing)"),
    "missing base": ("2018.toml", R2018.replace('base = "2016"', 'base = "2010"'),
                     "2018.toml: recipe.base: {dir}/2010.toml: cannot read the recipe"),
    "base of a later year": ("2015.toml", R2018.replace("2018", "2015"),
                             "2015.toml: recipe.base: {dir}/2016.toml is the 2016 recipe; a base must be of a year before 2015"),
    "base of another workload": ("2018.toml", R2018.replace('base = "2016"', 'base = "../digits/2016.toml"'),
                                 "2018.toml: recipe.base: {dir}/../digits/2016.toml is a recipe of workload 'digits', "
                                 "not 'mnist1d'"),
    "base of itself": ("2018.toml", R2018.replace('base = "2016"', 'base = "2018"'),
                       "2018.toml: recipe.base: cycle of bases: {dir}/2018.toml -> {dir}/2018.toml"),
    "cycle of bases": ("2016.toml", R2016.replace('summary', 'base = "2015"\nsummary'),
                       "2018.toml: recipe.base: {dir}/2016.toml: recipe.base: {dir}/2015.toml: recipe.base: cycle of bases: "
                       "{dir}/2016.toml -> {dir}/2015.toml -> {dir}/2016.toml"),
    "error inside a base": ("2016.toml", R2016.replace("[tricks.ema]", "[tricks.bogus]"),
                            "2018.toml: recipe.base: {dir}/2016.toml: tricks.bogus: unknown trick 'bogus'"),
    "not accepted yet the tricks changed": ("2018.toml", R2018.replace("accepted = true", "accepted = false"),
                                            "2018.toml: provenance.accepted: false means the previous recipe is carried "
                                            "forward, but the tricks differ from those of mnist1d/2016"),
    "confidence interval reversed": ("2018.toml", R2018.replace("[0.004, 0.020]", "[0.020, 0.004]"),
                                     "2018.toml: provenance: ci must be [low, high] with low <= high"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_recipes_exit_2_naming_the_file_and_the_problem(case, recipes, cli):
    name, text, expected = BAD[case]
    write(recipes.parent, "digits/2016.toml", R2016.replace('"mnist1d"', '"digits"'))
    write(recipes, "2015.toml", R2016.replace("2016", "2015").replace("summary", 'base = "2016"\nsummary'))
    write(recipes, name, text)  # the case's file, possibly replacing one of those
    # Errors in a base are reached through the recipe on top of it (2018 on 2016; 2016 on 2015 on 2016).
    checked = "2018.toml" if case in ("cycle of bases", "error inside a base") else name
    code, out, err = cli("recipe", "check", str(recipes / checked))
    assert code == 2 and out == ""
    assert squash(expected.format(dir=recipes)) in squash(err)


def test_check_reports_every_file_and_fails_if_any_is_wrong(recipes, cli):
    write(recipes, "2017.toml", R2016.replace("2016", "2017").replace("[tricks.ema]", "[tricks.emaa]"))
    code, out, err = cli("recipe", "check", str(recipes / "2016.toml"), str(recipes / "2017.toml"), str(recipes / "2018.toml"))
    assert code == 2
    assert "ok" in out and "mnist1d/2016" in out and "mnist1d/2018" in out and "emaa" in err
    code, out, err = cli("recipe", "check", str(recipes / "2018.toml"), "not-a-recipe")
    assert code == 2 and squash("'not-a-recipe' is neither a recipe file") in squash(err)


def test_show_prints_the_resolved_recipe(recipes, cli):
    code, out, _ = cli("recipe", "show", str(recipes / "2018.toml"), "--json")
    assert code == 0 and ResolvedRecipe.model_validate_json(out) == resolve(load_recipe(recipes / "2018.toml"))
    code, out, _ = cli("recipe", "show", str(recipes / "2018.toml"))
    assert code == 0
    for text in ("mnist1d/2018", "on top of mnist1d/2016", "smoothing=0.02", "less smoothing on top of mixup",
                 "removed in mnist1d/2018: ema", "lr=0.02", "study derive-mnist1d-2018", "p = 0.0031"):
        assert squash(text) in squash(out), text
    code, out, _ = cli("recipe", "show", str(recipes / "2016.toml"))
    assert code == 0 and "[notmeasured]" in squash(out) and "hand-written" in out  # brackets are not markup


# ---- runs and studies that start from a recipe ---------------------------------------------------


def test_a_run_from_a_recipe_keeps_the_resolved_recipe_in_its_record(recipes, cli, tmp_path):
    code, out, err = cli("run", "--recipe", str(recipes / "2018.toml"), "--tricks", "lr_warmup", "--set", "lr=0.005",
                         "--set", "mixup.alpha=0.3", "--budget", "3000", "--budget-unit", "samples", "--json")
    assert code == 0, err
    data = json.loads(out)
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    record = RunRecord.model_validate(data)
    assert record.recipe == resolve(load_recipe(recipes / "2018.toml"))  # the recipe as resolved, unchanged
    # What ran: the recipe's tricks and values, the added trick, the explicit overrides on top.
    assert {t.name: t.params for t in record.tricks} == {
        "label_smoothing": {"smoothing": 0.02}, "lr_warmup": {"fraction": 0.05}, "mixup": {"alpha": 0.3}}
    assert record.nuisance == {"lr": 0.005, "weight_decay": 0.0}


@pytest.mark.parametrize("args,message", [
    (["--tricks", "mixup"], "trick 'mixup' is already in recipe mnist1d/2018; to change its parameters override them"),
    (["--workload", "digits"], "--workload digits differs from the workload of recipe mnist1d/2018"),
    (["--set", "ema.half_life=5ba"], "--set ema.half_life: trick 'ema' is not in recipe mnist1d/2018 or --tricks"),
    (["--tricks", "swa,ema"], "tricks 'swa' and 'ema' conflict"),  # ema is removed by the recipe, so it may be added
])
def test_run_refuses_ambiguous_or_bad_recipe_options(recipes, cli, args, message):
    code, out, err = cli("run", "--recipe", str(recipes / "2018.toml"), *args)
    assert code == 2 and out == "" and squash(message) in squash(err)


def test_a_recipe_without_provenance_runs_at_the_reference_budget(recipes, cli):
    # A hand-written recipe (no [provenance]) has no budget of its own: the reference budget, in FLOPs.
    code, out, err = cli("run", "--recipe", str(recipes / "2016.toml"), "--budget-unit", "seconds")
    assert code == 2 and out == "" and squash("--budget-unit needs --budget (the reference budget is in FLOPs)") in squash(err)


def test_run_names_a_bad_recipe_file_before_training(recipes, cli):
    write(recipes, "2018.toml", R2018.replace("[tricks.mixup]", "[tricks.sam]"))
    code, out, err = cli("run", "--recipe", str(recipes / "2018.toml"))
    assert code == 2 and squash("2018.toml: tricks.sam: trick 'sam' is from 2021, after the recipe's year 2018") in squash(err)
    code, out, err = cli("run", "--recipe", "mnist1d/1999")
    assert code == 2 and squash("no recipe mnist1d/1999") in squash(err)


def test_run_trial_checks_the_recipe_workload(recipes):
    from trickstack.trial.runner import run_trial

    with pytest.raises(UserError, match="recipe mnist1d/2018 is for workload 'mnist1d', not 'digits'"):
        run_trial("digits", recipe=resolve(load_recipe(recipes / "2018.toml")))


def spec_text(base: str, workload: str = "mnist1d", extra: str = "") -> str:
    return (f'[study]\nname = "r"\nworkload = "{workload}"\nbudget = {{ flops = 5e8 }}\nseeds = 1\n'
            f'design = "one-at-a-time"\ntricks = ["lr_warmup"]\nbase = "{base}"\n{extra}')


def test_a_study_starts_every_arm_from_a_recipe_with_its_parameters_and_nuisance(recipes, tmp_path):
    from trickstack.ablations.engine import ablate
    from trickstack.ablations.jobs import completed
    from trickstack.ablations.spec import StudySpec

    path = write(tmp_path, "study.toml", spec_text("mnist1d/2018.toml", extra='overrides = { "mixup.alpha" = 0.4 }\n'))
    spec = StudySpec.load(path)
    resolved = resolve(load_recipe(recipes / "2018.toml"))
    assert spec.study.base == ["label_smoothing", "mixup"] and spec.base_recipe == resolved
    study = ablate(spec, f"sqlite:///{tmp_path}/s.db").study
    assert StudySpec.model_validate(study.user_attrs["spec"]).base_recipe == resolved  # stored with the study
    records = [RunRecord.model_validate(r) for t in completed(study) for r in t.user_attrs["records"]]
    assert len(records) == 2
    for record in records:
        assert record.recipe == resolved and record.nuisance == {"lr": 0.02, "weight_decay": 0.0}
        params = {t.name: t.params for t in record.tricks}
        assert params["label_smoothing"] == {"smoothing": 0.02} and params["mixup"] == {"alpha": 0.4}  # override on top
    assert sorted("lr_warmup" in {t.name for t in r.tricks} for r in records) == [False, True]


SYNTHETIC = '[synthetic]\neffects = { ema = 0.1, lr_warmup = 0.05 }\nrun_noise = 0.01\n'


def test_a_study_does_not_change_when_its_recipe_file_does(tmp_path):
    from trickstack.ablations.engine import ablate
    from trickstack.ablations.jobs import completed
    from trickstack.ablations.spec import StudySpec

    recipe = write(tmp_path, "synthetic/2016.toml", R2016.replace('"mnist1d"', '"synthetic"'))
    path = write(tmp_path, "study.toml", spec_text("synthetic/2016.toml", "synthetic", SYNTHETIC))
    url = f"sqlite:///{tmp_path}/s.db"
    study = ablate(StudySpec.load(path), url).study
    records = [RunRecord.model_validate(r) for t in completed(study) for r in t.user_attrs["records"]]
    assert all(r.recipe.name == "synthetic/2016" and r.nuisance["lr"] == 0.02 for r in records)
    assert all({t.name: t.params for t in r.tricks}["label_smoothing"] == {"smoothing": 0.05} for r in records)
    recipe.write_text(R2016.replace('"mnist1d"', '"synthetic"').replace("lr = 0.02", "lr = 0.03"))
    with pytest.raises(UserError, match="exists with a different base recipe"):
        ablate(StudySpec.load(path), url)


@pytest.mark.parametrize("base,message", [
    ("mnist1d/2018.toml", "study.toml: study.base: recipe mnist1d/2018 is for workload 'mnist1d', the study's is 'synthetic'"),
    ("mnist1d/2019.toml", "study.toml: study.base: {dir}/mnist1d/2019.toml: cannot read the recipe"),
    ("bad/2016.toml", "study.toml: study.base: {dir}/bad/2016.toml: tricks.bogus: unknown trick 'bogus'"),
])
def test_a_bad_recipe_base_of_a_study_is_named(recipes, tmp_path, cli, base, message):
    write(tmp_path, "bad/2016.toml", R2016.replace("[tricks.ema]", "[tricks.bogus]"))
    path = write(tmp_path, "study.toml", spec_text(base, "synthetic", SYNTHETIC))
    code, _, err = cli("ablate", str(path), "--dry-run")
    assert code == 2 and squash(message.format(dir=tmp_path)) in squash(err)


def test_a_spec_cannot_set_the_resolved_recipe_itself(tmp_path):
    from trickstack.ablations.spec import StudySpec

    with pytest.raises(UserError, match="base_recipe: unknown key"):
        StudySpec.from_toml_text(spec_text("x.toml") + '[base_recipe]\nname = "x"\n', source="s.toml")
