from importlib.metadata import EntryPoint

import pytest

from cxrgen_bench import registry as reg
from cxrgen_bench.errors import RegistryError
from cxrgen_bench.registry import REGISTRIES, Registry


def test_builtins_are_registered_for_every_kind():
    assert {"fid", "ms_ssim", "classifier_auroc"} <= set(reg.METRICS.names())
    assert {"inception-v3-fid", "xrv-densenet121", "clip-vit-b-32"} <= set(reg.BACKBONES.names())
    assert "roentgen2022" in reg.PROFILES
    assert set(REGISTRIES) == {"metrics", "backbones", "text_encoders", "report_generators", "labellers", "generators",
                               "datasets", "profiles", "trainers", "studies", "autoencoders"}
    assert {"transformers", "diffusers", "open-clip"} <= set(reg.TEXT_ENCODERS.names())
    assert "rule-based" in reg.LABELLERS and "callable" in reg.REPORT_GENERATORS
    assert {"roentgen", "dreambooth", "lora", "textual-inversion", "textual-projection"} == set(reg.TRAINERS.names())


def test_lazy_targets_resolve_to_classes():
    cls = reg.METRICS.get("fid")
    assert cls.card.direction == "lower" and cls.card.name == "fid"
    assert reg.METRICS.get("classifier_auroc").card.direction == "higher"


def test_duplicates_are_rejected():
    r = Registry("things")
    r.register("a", "json:dumps")
    with pytest.raises(RegistryError, match="registered twice"):
        r.register("a", "json:loads", source="plugin x")


def test_unknown_and_broken_targets_say_what_is_wrong():
    r = Registry("things")
    r.register("broken", "no_such_module_xyz:Thing")
    with pytest.raises(RegistryError, match="unknown things 'nope'; registered: broken"):
        r.get("nope")
    with pytest.raises(RegistryError, match="cannot be imported"):
        r.get("broken")


def test_decorator_registration():
    r = Registry("things")

    @r.register("mine")
    class Mine:
        pass

    assert r.get("mine") is Mine


def test_entry_points_are_loaded_and_checked(monkeypatch):
    eps = [EntryPoint(name="third", value="json:dumps", group="cxrgen_bench.things")]
    monkeypatch.setattr(reg, "entry_points", lambda group: [e for e in eps if e.group == group])
    r = Registry("things")
    import json
    assert r.get("third") is json.dumps
    clash = Registry("things")
    clash.register("third", "json:loads")
    with pytest.raises(RegistryError, match="registered twice"):
        clash.names()


def test_a_rejected_entry_point_stays_an_error(monkeypatch):
    eps = [EntryPoint(name="a", value="json:dumps", group="cxrgen_bench.things")]
    monkeypatch.setattr(reg, "entry_points", lambda group: [e for e in eps if e.group == group])
    clash = Registry("things")
    clash.register("a", "json:loads")
    for _ in range(2):  # never a half-loaded registry on the second call
        with pytest.raises(RegistryError, match="registered twice"):
            clash.names()
