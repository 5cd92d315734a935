"""Checkpoints shared by the trainer and the studies: the leftovers of a killed save are never taken for
a checkpoint, and replacing one never leaves no checkpoint at all."""
import json

import torch

from cxrgen_bench.training import checkpoints, latest_checkpoint, load_checkpoint, save_checkpoint


def save(folder, value):
    model = torch.nn.Linear(2, 1)
    torch.nn.init.constant_(model.weight, value)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    return save_checkpoint(folder, dict(model.state_dict()), optimizer, None, {"torch": torch.get_rng_state()},
                           {"step": value})


def test_killed_saves_are_ignored_and_replacement_is_whole(tmp_path):
    save(tmp_path / "checkpoint-2", 2)
    save(tmp_path / "checkpoint-10", 10)
    leftover = tmp_path / "checkpoint-12.partial"  # a kill between the last write and the rename
    leftover.mkdir()
    (leftover / "state.json").write_text(json.dumps({"step": 12}))
    (tmp_path / "checkpoint-11").mkdir()  # a kill before state.json
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-10"]
    assert latest_checkpoint(tmp_path).name == "checkpoint-10"
    save(tmp_path / "checkpoint-10", 7)  # replaced in place
    assert load_checkpoint(tmp_path / "checkpoint-10")["info"] == {"step": 7}
    assert not (tmp_path / "checkpoint-10.old").exists() and not (tmp_path / "checkpoint-10.partial").exists()
