"""Model folders record dtype, ember version and the weights' sha256, which loading
verifies; formats from a newer ember are refused by name; old (format 1) folders still
load; files and folders get the umask's permissions."""

import hashlib
import json
import os
import stat

import pytest

import ember
from ember.models import GPT, GPTConfig
from ember.models.folder import CONFIG, WEIGHTS
from ember.serialization import ModelFileError

TINY = dict(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=8)


@pytest.fixture
def folder(tmp_path):
    ember.manual_seed(0)
    ember.save(GPT(GPTConfig(**TINY)), tmp_path / "gpt")
    return tmp_path / "gpt"


def _doc(folder):
    return json.loads((folder / CONFIG).read_text())


def test_config_records_what_wrote_it(folder):
    doc = _doc(folder)
    assert doc["format"] == "ember.model/2"
    assert doc["architecture"] == "gpt" and doc["dtype"] == "float32"
    assert doc["ember_version"] == ember.__version__
    assert doc["weights_sha256"] == hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()


def test_a_changed_weights_file_fails_the_sha256(folder):
    w = folder / WEIGHTS
    data = bytearray(w.read_bytes())
    data[-1] ^= 0x01  # a flipped bit in the last weight: the header still parses
    w.write_bytes(bytes(data))
    for mmap in (False, True):
        with pytest.raises(ModelFileError, match="sha256") as e:
            ember.load(folder, mmap=mmap)
        assert e.value.path == w


def test_a_bad_sha256_field(folder):
    doc = _doc(folder)
    doc["weights_sha256"] = "not a digest"
    (folder / CONFIG).write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="weights_sha256"):
        ember.load(folder)


def test_a_newer_format_names_the_version_that_wrote_it(folder):
    doc = _doc(folder)
    doc.update(format="ember.model/7", ember_version="7.1.0")
    (folder / CONFIG).write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"ember.model/7 by ember 7.1.0.*ember.model/3"):
        ember.load(folder)


def test_format_1_folders_still_load(folder):
    model = ember.load(folder)
    doc = _doc(folder)
    for key in ("dtype", "ember_version", "weights_sha256"):
        del doc[key]
    doc["format"] = "ember.model/1"
    (folder / CONFIG).write_text(json.dumps(doc))
    old = ember.load(folder)
    x = ember.randint(0, 11, (1, 8))
    assert old(x)[0].detach().numpy().tobytes() == model(x)[0].detach().numpy().tobytes()


def test_unknown_architecture(folder):
    doc = _doc(folder)
    doc["architecture"] = "resnet"
    (folder / CONFIG).write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="unknown architecture 'resnet'"):
        ember.load(folder)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask(umask, tmp_path):
    old = os.umask(umask)
    try:
        ember.save(GPT(GPTConfig(**TINY)), tmp_path / "m")
        ember.save({"w": ember.ones(2)}, tmp_path / "w.safetensors")
        ember.save({"w": ember.ones(2), "step": 1}, tmp_path / "s.safetensors")
    finally:
        os.umask(old)

    def mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)

    assert mode(tmp_path / "m") == 0o777 & ~umask
    for f in (tmp_path / "m" / WEIGHTS, tmp_path / "m" / CONFIG, tmp_path / "w.safetensors",
              tmp_path / "s.safetensors"):  # fmt: skip
        assert mode(f) == 0o666 & ~umask, f


def test_saving_over_a_folder_replaces_it(folder):
    ember.manual_seed(5)
    other = GPT(GPTConfig(**{**TINY, "n_embd": 16}))
    ember.save(other, folder)
    assert ember.load(folder).config.n_embd == 16
    assert sorted(p.name for p in folder.parent.iterdir()) == ["gpt"]  # no temp left


def test_a_crash_between_the_portable_renames_keeps_the_old_folder(folder):
    # Where renameat2 is missing, the old folder is renamed aside before the new one
    # moves in; a crash between the two leaves only `.gpt.old`, which load falls back to.
    model = ember.load(folder)
    os.replace(folder, folder.with_name(".gpt.old"))
    again = ember.load(folder)
    x = ember.randint(0, 11, (1, 8))
    assert again(x)[0].detach().numpy().tobytes() == model(x)[0].detach().numpy().tobytes()
    ember.save(model, folder)  # the next save completes the swap
    assert sorted(p.name for p in folder.parent.iterdir()) == ["gpt"]
