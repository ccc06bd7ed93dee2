"""A name of lucid 3.8 that lucid-ctc lacks raises an AttributeError pointing to
docs/coming_from.rst, and that page lists exactly the names of lucid/_missing.py."""

import importlib
import pathlib
import re

import pytest

from lucid._missing import DOCS, LUCID38_ONLY

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", sorted(LUCID38_ONLY))
def test_every_listed_name_is_absent_and_its_error_points_to_the_docs(module):
    mod = importlib.import_module(module)
    assert LUCID38_ONLY[module]
    for name in sorted(LUCID38_ONLY[module]):
        assert name not in vars(mod), f"{module}.{name} exists: drop it from lucid/_missing.py"
        with pytest.raises(AttributeError, match=re.escape(f"lucid 3.8 has {module}.{name}, "
                                                           f"lucid-ctc does not ({DOCS}")):
            getattr(mod, name)
    with pytest.raises(AttributeError) as error:
        _ = mod.no_such_name_anywhere
    assert str(error.value) == f"module {module!r} has no attribute 'no_such_name_anywhere'"
    assert not hasattr(mod, "Conv2d_typo")


def test_the_docs_list_the_same_names():
    text = (ROOT / DOCS).read_text()
    section = text[text.index("Every missing name of lucid 3.8"):]
    listed = {}
    for module, body in re.findall(r"^``([\w.]+)``\n((?:    .*\n?)+)", section, re.M):
        listed[module] = set(re.findall(r"``(\w+)``", body))
    assert listed == {module: set(names) for module, names in LUCID38_ONLY.items()}


def test_real_names_and_submodules_still_resolve():
    import lucid

    assert lucid.nn.utils.clip_grad_norm_ and lucid.utils.data.DataLoader
    assert lucid.optim.StepLR is lucid.optim.lr_scheduler.StepLR
    from lucid.nn.utils import rnn

    assert rnn.PackedSequence
