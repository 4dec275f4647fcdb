"""The CLI's progress bar: one bar per stage, named by its stage, and a closed line before any error."""
from engine.cli.progress import progress_bar


def test_each_stage_gets_its_own_named_bar_and_close_ends_the_line(capsys):
    bar = progress_bar("greatest thing")
    bar.stage("converting", "Converting")
    bar(250, 1000)
    bar.stage("scoring", "Scoring")
    bar(10, 40)
    bar.stage("writing", "Writing")
    bar(5, 40)
    bar.close()
    err = capsys.readouterr().err
    lines = [chunk.strip() for chunk in err.replace("\r", "\n").splitlines() if chunk.strip()]
    assert any(line.startswith("greatest thing (converting):  25%") for line in lines), err
    assert any(line.startswith("greatest thing:") and "10/40" in line and "cand" in line for line in lines), err
    assert any(line.startswith("greatest thing (writing):") and "5/40" in line and "row" in line for line in lines), err
    assert err.endswith("\n")  # what is printed next starts a line of its own
