"""The app's stored-runs list as a run library: filter as you type, sort, tag, note, delete."""

from __future__ import annotations

from test_library import RUNS, runs, tagged  # noqa: F401  (fixtures)

from tuilab.app.app import create_app
from tuilab.app.screens.confirm import ChoiceScreen, PromptScreen
from tuilab.app.widgets.run_library import RunLibrary


def listed(app) -> list[str]:
    return [info.run_id for info in app.screen.query_one(RunLibrary).shown]


def lines(app) -> list[str]:
    from textual.widgets import OptionList

    options = app.screen.query_one("#run-list", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_filter_as_you_type_and_sort_by_a_column(tagged, tmp_path):  # noqa: F811
    app = create_app(tmp_path / "none", tagged)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause(0.1)
        assert listed(app) == list(reversed(RUNS))  # newest first
        digits = next(line for line in lines(app) if line.startswith("digits/"))
        assert "#best #adam" in digits and "val 0.93" in digits
        await pilot.press("slash")
        await pilot.press(*"tag:adam")
        await pilot.pause(0.1)
        assert listed(app) == ["digits/20261120-101500", "quick/20260101-120000"]
        await pilot.press("space", *"base")  # and a word: tags, notes, names
        await pilot.pause(0.1)
        assert listed(app) == ["quick/20260101-120000"]
        note = str(app.screen.query_one("#run-list-note").render())
        assert note.startswith("1 of 4 runs · sorted: newest first")
        for _ in range(len("tag:adam base")):
            await pilot.press("backspace")
        await pilot.press(*"status:nonsense")
        await pilot.pause(0.1)
        assert listed(app) == list(reversed(RUNS))  # a bad filter shows all, and says why
        assert "--status 'nonsense'" in str(app.screen.query_one("#run-list-note").render())
        await pilot.press("escape")  # back to the list: keys steer again
        box = app.screen.query_one("#run-filter")
        box.value = ""
        await pilot.press("o")  # sort by best validation accuracy
        await pilot.pause(0.1)
        assert listed(app) == [
            "digits/20261120-101500",
            "quick/20260102-090000",
            "cifar/20261121-080000",
            "quick/20260101-120000",
        ]


async def test_tag_note_and_delete_from_the_keyboard(runs, tmp_path):  # noqa: F811
    app = create_app(tmp_path / "none", runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause(0.1)
        newest = listed(app)[0]
        folder = runs / newest
        await pilot.press("t")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"best adam", "enter")
        await pilot.pause(0.1)
        assert (folder / "tags.txt").read_text().split() == ["best", "adam"]
        assert "#best #adam" in lines(app)[0]
        await pilot.press("t")
        await pilot.press(*"-adam [x]", "enter")  # one bad tag: nothing changes, it says why
        await pilot.pause(0.1)
        assert (folder / "tags.txt").read_text().split() == ["best", "adam"]
        assert any("'[x]' is not a tag" in n.message for n in app._notifications)
        await pilot.press("w")
        await pilot.press(*"momentum 0.9 next", "enter")
        await pilot.pause(0.1)
        assert (folder / "note.md").read_text().rstrip("\n") == "momentum 0.9 next"
        await pilot.press("w")  # the note opens for editing, cursor at its end
        await pilot.press(*"; then 0.99", "enter")
        await pilot.pause(0.1)
        assert (folder / "note.md").read_text().rstrip("\n") == "momentum 0.9 next; then 0.99"
        await pilot.press("d")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("escape")  # keep it
        assert folder.is_dir()
        await pilot.press("d", "y")
        await pilot.pause(0.2)
        assert not folder.exists() and (runs / ".trash" / newest).is_dir()
        assert newest not in listed(app) and len(listed(app)) == len(RUNS) - 1


async def test_library_keys_act_on_the_stored_runs_tab_only(runs, tmp_path):  # noqa: F811
    app = create_app(tmp_path / "none", runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("d", "t", "w")  # on the scenarios tab: nothing happens
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ChoiceScreen | PromptScreen)
        assert all((runs / run_id).is_dir() for run_id in RUNS)
