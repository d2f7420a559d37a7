"""The workshop file: a valid room loads; every mistake a teacher can make gets a message
naming the key and what to write; passcodes are stored hashed and checked."""

from __future__ import annotations

import pytest

from core.workshop.config import WorkshopConfigError, load_workshop
from core.workshop.passcodes import check_passcode, hash_passcode, is_passcode_hash

HASH = hash_passcode("teach-me")


def _room(tmp_path, text: str):
    path = tmp_path / "room.yaml"
    path.write_text(text)
    return path


def test_a_room_file_loads_with_its_defaults(tmp_path):
    room = load_workshop(_room(tmp_path, f'teacher_passcode_hash: "{HASH}"\n'
                                         "room_passcode: owl-17\nrecipes: [rtn, gptq]\n"
                                         "caps: {jobs_per_attendee: 2}\n"))
    assert room.room_passcode == "owl-17" and room.models == ("default", "tiny")
    assert room.caps.jobs_per_attendee == 2 and room.caps.queue_length == 100
    assert room.allows_recipe("gptq") and not room.allows_recipe("awq")
    assert room.allows_model("default") and room.allows_model("") and not room.allows_model(
        "Qwen/Qwen2.5-0.5B")
    assert not room.allow_save
    assert room.job_nice == 10  # jobs below the pages' CPU priority unless told otherwise
    # Every core but one computes a job; the web server keeps one for the room's pages.
    assert (room.threads_per_job(cores=16), room.threads_per_job(cores=1)) == (15, 1)


@pytest.mark.parametrize(("text", "says"), [
    ('teacher_passcode_hash: "hunter2"\n', "never the passcode itself"),
    (f'teacher_passcode_hash: "{HASH}"\ncaps: {{jobs_per_atendee: 2}}\n',
     "caps.jobs_per_atendee: unknown key (known here: jobs_per_attendee"),
    (f'teacher_passcode_hash: "{HASH}"\nmodel: [tiny]\n', "model: unknown key"),
    (f'teacher_passcode_hash: "{HASH}"\nrecipes: [gptq, gpqt]\n', "unknown recipe(s) 'gpqt'"),
    (f'teacher_passcode_hash: "{HASH}"\nmodels: [/srv/models/secret]\n', "local folder"),
    (f'teacher_passcode_hash: "{HASH}"\ncaps: {{eval_windows: 0}}\n', "caps.eval_windows"),
    (f'teacher_passcode_hash: "{HASH}"\njob_nice: 25\n', "job_nice"),
    ("room_passcode: x\n", "teacher_passcode_hash: Field required"),
    ("- just a list\n", "expected keys such as teacher_passcode_hash"),
    ("teacher_passcode_hash: [unclosed\n", "not valid YAML"),
])
def test_a_mistake_in_the_file_names_the_key_and_the_fix(tmp_path, text, says):
    with pytest.raises(WorkshopConfigError, match="room.yaml") as caught:
        load_workshop(_room(tmp_path, text))
    assert says in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(WorkshopConfigError, match="no such file"):
        load_workshop(tmp_path / "nowhere.yaml")


def test_passcodes_are_stored_hashed_salted_and_checked():
    again = hash_passcode("teach-me")
    assert again != HASH and is_passcode_hash(again)  # salted: never the same twice
    assert "teach-me" not in HASH
    assert check_passcode("teach-me", HASH) and not check_passcode("teach-you", HASH)
    assert not check_passcode("", HASH) and not check_passcode("teach-me", "plain text")


def test_the_cli_hashes_a_passcode_and_checks_a_rooms_file(
        tmp_path, capsys, monkeypatch):
    import io

    from app.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("teach-me\n"))
    assert main(["workshop", "hash", "--stdin"]) == 0
    stored = capsys.readouterr().out.strip()
    assert check_passcode("teach-me", stored)
    good = _room(tmp_path, f'teacher_passcode_hash: "{stored}"\nrecipes: [rtn]\n')
    assert main(["workshop", "check", str(good)]) == 0
    assert "OK: models default, tiny; recipes rtn" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(f'teacher_passcode_hash: "{stored}"\ncaps: {{queue: 5}}\n')
    assert main(["workshop", "check", str(bad)]) == 2
    assert "caps.queue: unknown key" in capsys.readouterr().err


def test_serve_refuses_a_broken_room_file_before_starting_anything(tmp_path, capsys):
    from app.cli import main

    bad = _room(tmp_path, f'teacher_passcode_hash: "{HASH}"\ncaps: {{queue: 5}}\n')
    assert main(["serve", "--workshop", str(bad)]) == 2
    assert "caps.queue: unknown key" in capsys.readouterr().err
