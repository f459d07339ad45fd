"""The browser UI: handlers called directly, the real server through gradio_client, and a real
headless Chromium clicking through it."""

import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import gradio_interface as gi
from config import Config
from kick_clip_generator import KickClipGenerator

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def ui(tmp_path):
    config = Config(output_dir=tmp_path / "out", models_dir=tmp_path / "models")
    return gi.UI(KickClipGenerator(config), config)


def analyse_args(source, **changes):
    values = dict(source=source, upload=None, top_n=3, clip_length_s=10, pre_roll_s=3,
                  min_gap_s=2, chunk_duration_s=30, frame_skip=5, audio_weight=0.5,
                  video_weight=0.5, make_clips=True)
    values.update(changes)
    return values


def test_handlers_analyse_review_rate_recut_and_history(ui, short_stream):
    (summary, rows, figure, gallery, downloads, run_dir, review, pick,
     history) = ui.analyze(**analyse_args(str(short_stream)))
    assert "short.mp4" in summary and rows and rows[0][0] == 1
    assert figure.axes[0].get_xlabel() == "minutes into the stream"
    assert len(gallery) == len(rows) and all(Path(path).exists() for path, _ in gallery)
    assert [Path(d).name for d in downloads] == ["highlights.json", "clips.zip"]
    # the finished run is selected in Review and History and listed in the table
    assert review["value"] == pick["value"] == run_dir
    assert [value for _, value in review["choices"]] == [run_dir]
    assert history[0][0] == Path(run_dir).name

    clip, start, end, said, shown = ui.clip(run_dir, 1)
    assert Path(clip).exists() and end > start and said.endswith("clip 1: not rated yet")
    assert shown == [run_dir, 1]
    assert "1 ratings stored" in ui.rate(run_dir, 1, "keep", 3, shown)
    assert "rated 0.75; 1 ratings stored" in ui.rate(run_dir, 1, "stars", 4, shown)  # replaces
    assert ui.generator.ratings(run_dir) == {1: 0.75}
    new_clip, text = ui.recut(run_dir, 1, 1.0, 6.0, shown)
    assert "re-cut" in text and Path(new_clip).exists()
    assert ui.history()[0][0] == Path(run_dir).name
    text, importances = ui.model_status()
    assert "1** ratings" in text and importances


def test_rate_and_recut_act_only_on_the_clip_shown(ui, short_stream):
    """The player shows one clip; Rate and Re-cut refuse any other run or clip number
    rather than teach the model moments nobody watched."""
    import gradio as gr

    first = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[5]
    second = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[5]
    assert first != second
    with pytest.raises(gr.Error, match="no clip is shown - press Show clip to watch clip 1 of "):
        ui.rate(first, 1, "keep", 3, None)
    shown = ui.clip(first, 1)[-1]
    # e.g. a finished Analyse selected its run in Review while the player kept the old clip
    with pytest.raises(gr.Error, match=f"the player shows clip 1 of {Path(first).name}, not "
                                       f"clip 1 of {Path(second).name} - press Show clip"):
        ui.rate(second, 1, "keep", 3, shown)
    with pytest.raises(gr.Error, match="not clip 2 of"):
        ui.rate(first, 2, "skip", 3, shown)
    with pytest.raises(gr.Error, match="then re-cut it"):
        ui.recut(second, 1, 0.0, 5.0, shown)
    assert ui.generator.ratings(first) == {} and ui.generator.ratings(second) == {}
    assert "rated 1.00" in ui.rate(first, 1, "keep", 3, shown)


def test_run_lists_follow_the_disk_and_keep_a_selection_that_exists(ui, short_stream):
    review, pick, history = ui.lists()
    assert review["choices"] == [] and review["value"] is None and history == []
    first = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[5]
    review, pick, history = ui.lists(None, None)  # a page (re)load: the newest run on disk
    assert review["value"] == pick["value"] == first and history[0][0] == Path(first).name
    second = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[5]
    review, pick, history = ui.lists(first, "/gone/run")  # a tab opened
    assert review["value"] == first  # still on disk: kept
    assert pick["value"] in (first, second)  # gone: the newest (same second: either)
    assert {row[0] for row in history} == {Path(first).name, Path(second).name}


def test_handler_errors_are_one_line_gradio_errors(ui):
    import gradio as gr

    with pytest.raises(gr.Error, match="no such file"):
        ui.analyze(**analyse_args("nothing-here.mp4"))
    with pytest.raises(gr.Error, match="top_n"):
        ui.analyze(**analyse_args("x", top_n=0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui-server")
    config = Config(output_dir=tmp / "out", models_dir=tmp / "models")
    port = free_port()
    app = gi.launch(config, port=port, open_browser=False, block=False)
    yield f"http://127.0.0.1:{port}", config
    app.close()


def test_the_real_server_through_gradio_client(server, sample_stream):
    from gradio_client import Client

    url, config = server
    client = Client(url + "/", verbose=False)
    assert {"/analyze", "/rate", "/recut", "/retrain", "/model_status", "/open_run",
            "/history", "/cancel", "/clip"} <= set(client.view_api(
                return_format="dict")["named_endpoints"])
    job = client.submit(str(sample_stream), None, 3, 30, 8, 10, 30, 5, 0.5, 0.5, True,
                        api_name="/analyze")
    stages = set()
    while not job.done():
        for unit in job.status().progress_data or []:
            stages.add(re.sub(r"\d+", "N", unit.desc or ""))
        time.sleep(0.05)
    summary, table, _, gallery, downloads, review, _, _ = job.result()
    # the browser shows the engine's stages as they happen
    assert {"chunk N/N", "cutting clip N/N"} <= stages, stages
    rows = table["data"]
    assert len(rows) >= 2 and {rows[0][7], rows[1][7]} == {"audio", "video"}
    assert all(Path(item["video"]).exists() for item in gallery)
    assert any(d.endswith("highlights.json") for d in downloads)
    run_dir = review["value"]  # the finished run, selected in Review
    client.predict(run_dir, 2, api_name="/clip")  # rate what was watched
    said = client.predict(run_dir, 2, "keep", 3, api_name="/rate")
    assert "1 ratings stored" in said
    assert KickClipGenerator(config).ratings(run_dir, config) == {2: 1.0}


@pytest.mark.slow  # two analyses through the server: ~7 s
def test_runs_made_after_the_server_started_are_listed_and_selected(server, short_stream):
    """The lists read the disk on every page load and tab, and an Analyse selects its run;
    /analyze needs nothing but the source (every other field has its default)."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, config = server
    client = Client(url + "/", verbose=False)
    params = client.view_api(return_format="dict")["named_endpoints"]["/analyze"]["parameters"]
    assert [p["parameter_name"] for p in params if not p["parameter_has_default"]] == ["source"]
    def on_disk() -> list[str]:
        return [str(Path(r["run_dir"]).resolve())
                for r in KickClipGenerator(config).list_runs(config)]

    made = []
    for settings in ({}, {"make_clips": False}):  # both made after the server started
        before = on_disk()
        summary, *_, review, pick, history = client.predict(str(short_stream), **settings,
                                                            api_name="/analyze")
        assert "short.mp4" in summary and [review["value"]] == sorted(set(on_disk()) - {*before})
        assert pick["value"] == review["value"]
        assert sorted(value for _, value in review["choices"]) == sorted(on_disk())
        assert Path(review["value"]).name in [row[0] for row in history["data"]]
        made.append(review["value"])
    # a page reload: a new session's load event reads the disk again
    reloaded = Client(url + "/", verbose=False)
    review, pick, history = reloaded.predict(None, None, api_name="/runs")
    assert {Path(m).name for m in made} <= {row[0] for row in history["data"]}
    assert set(made) <= {value for _, value in review["choices"]}
    assert review["value"] == pick["value"] == str(Path(KickClipGenerator(config).list_runs(
        config)[0]["run_dir"]).resolve())
    review, _, _ = reloaded.predict(made[0], None, api_name="/history")
    assert review["value"] == made[0]  # a selection that still exists is kept
    assert reloaded.predict(api_name="/history")[2] == history  # scripts need no arguments
    # Rate acts only on the clip the player shows
    with pytest.raises(AppError, match="no clip is shown - press Show clip"):
        reloaded.predict(made[0], 1, "keep", 3, api_name="/rate")
    reloaded.predict(made[0], 1, api_name="/clip")
    with pytest.raises(AppError, match=f"shows clip 1 of {Path(made[0]).name}, not clip 1 of "
                                       f"{Path(made[1]).name}"):
        reloaded.predict(made[1], 1, "keep", 3, api_name="/rate")
    assert "rated 1.00" in reloaded.predict(made[0], 1, "keep", 3, api_name="/rate")
    assert KickClipGenerator(config).ratings(made[1], config) == {}


def test_the_server_touches_no_folder_outside_its_output(server, tmp_path):
    """Run folders come from the browser: one outside the output folder is refused by every
    endpoint that takes one, before anything is read, rated or re-cut."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, config = server
    client = Client(url + "/", verbose=False)
    outside = [str(tmp_path), str(Path(config.output_dir) / ".."), str(config.output_dir)]
    for run_dir in outside:
        for args, api in (((run_dir,), "/open_run"), ((run_dir, 1), "/clip"),
                          ((run_dir, 1, "keep", 3), "/rate"), ((run_dir, 1, 0, 5), "/recut")):
            with pytest.raises(AppError, match="is not a run in"):
                client.predict(*args, api_name=api)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../etc/passwd",
                                  "%2e%2e/%2e%2e/%2e%2e/etc/passwd", "{out}/../secret.txt",
                                  "{out}/../../secret.txt"])
def test_files_outside_the_output_folder_are_refused(server, path):
    url, config = server
    out = Path(config.output_dir).resolve()
    (out.parent / "secret.txt").write_text("root: not for the browser")
    (out / "inside.txt").write_text("served")
    # the control: a file inside the output folder is served
    assert fetch(f"{url}/gradio_api/file={out / 'inside.txt'}") == (200, b"served")
    status, body = fetch(f"{url}/gradio_api/file=" + path.format(out=out))
    assert status in (403, 404) and b"root:" not in body


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(.ci/run installs it with apt)")
@pytest.mark.slow  # a browser: ~9 s
def test_a_first_time_user_in_a_real_browser(server, short_stream, tmp_path):
    from playwright.sync_api import sync_playwright

    url, config = server
    before = {r["run_dir"] for r in KickClipGenerator(config).list_runs(config)}
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(url, timeout=60_000)
        page.get_by_text("Kick Clip Generator").first.wait_for(timeout=60_000)
        page.locator("input[type=file]").first.set_input_files(str(short_stream))
        page.wait_for_timeout(1500)  # the upload finishes
        page.get_by_role("button", name="Analyse").click()
        # the progress bar names the stage while the run goes on
        page.get_by_text(re.compile(r"(chunk \d+/\d+|scoring|cutting clip \d+/\d+) - "
                                    r"\d+\.\d%")).first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"\d+ highlights")).first.wait_for(timeout=120_000)
        page.wait_for_timeout(1000)
        # the ranked table's first row, the timeline plot and a playable clip
        page.get_by_role("gridcell", name=re.compile(r"^0:00:\d\d$")).first.wait_for(
            timeout=30_000)
        page.locator("img[src^='data:image']").first.wait_for(timeout=30_000)
        page.locator("video").first.wait_for(state="attached", timeout=30_000)
        shot = Path(os.environ.get("KCG_SCREENSHOT_DIR", tmp_path)) / "first-run.png"
        page.screenshot(path=str(shot), full_page=True)
        # the new run is selected in Review, and a reloaded page lists it in History
        [new] = {r["run_dir"] for r in KickClipGenerator(config).list_runs(config)} - before
        page.get_by_role("tab", name="Review").click()
        review_run = page.get_by_label("Run").first
        review_run.wait_for(timeout=30_000)
        assert review_run.input_value().startswith(Path(new).name)
        page.reload()
        page.get_by_role("tab", name="History").click()
        page.get_by_role("gridcell", name=Path(new).name).first.wait_for(timeout=30_000)
        browser.close()
    assert shot.stat().st_size > 20_000
    print(f"browser test: {time.monotonic() - started:.1f} s, screenshot {shot}")
