"""The browser UI: handlers called directly, the real server through gradio_client, and a real
headless Chromium clicking through it."""

import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

import gradio_interface as gi
from config import Config
from kick_clip_generator import KickClipGenerator
from ui_cards import cards_html, file_url

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
    (done, summary, timeline, cards, details, downloads, run_dir, review, pick, history,
     tabs) = ui.analyze(**analyse_args(str(short_stream)))
    assert "short.mp4" in summary and "they are in **Review**" in done
    assert tabs.selected == "review"  # the new run's cards are shown at once
    assert details and details[0][0] == 1 and "(+" in details[0][-1]  # numbers: Details only
    # a card per clip: its thumbnail as the poster, Keep / Skip, plain words
    assert cards.count("class='kcg-card") == len(details)
    assert "poster='gradio_api/file=" in cards and ".jpg'" in cards
    assert "data-act='keep'" in cards and "data-act='recut'" in cards
    assert not re.search(r"\(\+\d|mfcc|_mean|_max", cards)
    assert "data-rank='1'" in timeline and "class='kcg-legend'" in timeline
    # no clips.zip until asked for: it doubles the run on disk
    assert [Path(d).name for d in downloads] == ["highlights.json"]
    assert not (Path(run_dir) / "clips.zip").exists()
    assert [Path(d).name for d in ui.zip_clips(run_dir)] == ["highlights.json", "clips.zip"]
    assert review["value"] == pick["value"] == run_dir
    assert history[0][0] == Path(run_dir).name and history[0][2].startswith("today ")

    cards, said, model = ui.card_action(run_dir, "keep", 1)
    assert "Clip 1 kept; 1 rating so far" in said and "Based on **1 rating**" in model
    assert re.search(r"class='kcg-card kcg-keep( kcg-sel)?' data-rank='1'", cards)
    assert ">kept<" in cards
    cards, said, _ = ui.card_action(run_dir, "skip", 1)  # a second thought replaces
    assert "kcg-skip" in cards and ui.generator.ratings(run_dir) == {1: 0.0}
    cards, said, _ = ui.card_action(run_dir, "recut", 1, 1.0, 6.0)
    assert said == "Clip 1 re-cut: now 0:00:01-0:00:06." and "data-start='1.000'" in cards
    assert "(+" not in ui.model_status()[0] and ui.model_status()[1]

    # History's Open: the run in Review, its source in the Analyse box, the Review tab
    *shown, chosen, source, tabs = ui.open_run(run_dir)
    assert shown[-1] == run_dir and chosen["value"] == run_dir
    assert source == str(short_stream) and tabs.selected == "review"


def test_a_card_acts_on_its_own_run(ui, short_stream):
    """A card carries its run: a run list that moved (a finished Analyse selects its run)
    cannot make Keep rate another run's clip."""
    first = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[6]
    second = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[6]
    assert first != second
    cards = ui.show(first)[2]
    assert f"data-run='{first}'" in cards
    ui.card_action(first, "keep", 1)
    assert ui.generator.ratings(first) == {1: 1.0} and ui.generator.ratings(second) == {}


def test_run_lists_follow_the_disk_and_keep_a_selection_that_exists(ui, short_stream):
    review, pick, history = ui.lists()
    assert review["choices"] == [] and review["value"] is None and history == []
    first = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[6]
    review, pick, history = ui.lists(None, None)  # a page (re)load: the newest run on disk
    assert review["value"] == pick["value"] == first and history[0][0] == Path(first).name
    second = ui.analyze(**analyse_args(str(short_stream), make_clips=False))[6]
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
    # short clips close together: the browser's run has several clips to rate
    config = Config(output_dir=tmp / "out", models_dir=tmp / "models", top_n=10,
                    clip_length_s=8, pre_roll_s=2, min_gap_s=2)
    port = free_port()
    app = gi.launch(config, port=port, open_browser=False, block=False)
    yield f"http://127.0.0.1:{port}", config
    app.close()


def test_the_real_server_through_gradio_client(server, sample_stream):
    from gradio_client import Client

    url, config = server
    client = Client(url + "/", verbose=False)
    assert {"/analyze", "/rate", "/recut", "/retrain", "/model_status", "/open_run",
            "/history", "/cancel", "/zip_clips"} <= set(client.view_api(
                return_format="dict")["named_endpoints"])
    job = client.submit(str(sample_stream), None, 3, 30, 8, 10, 30, 5, 0.5, 0.5, True,
                        api_name="/analyze")
    stages = set()
    while not job.done():
        for unit in job.status().progress_data or []:
            stages.add(re.sub(r"\d+", "N", unit.desc or ""))
        time.sleep(0.05)
    done, summary, _, cards, details, downloads, review, _, _ = job.result()
    run_dir = review["value"]  # the finished run, selected in Review
    # the browser shows the engine's stages as they happen
    assert {"chunk N/N", "cutting clip N/N"} <= stages, stages
    rows = details["data"]
    assert len(rows) >= 2 and {rows[0][8], rows[1][8]} == {"audio", "video"}
    assert cards.count("class='kcg-card") == len(rows)
    assert [Path(d).name for d in downloads] == ["highlights.json"]
    assert "1 rating so far" in client.predict(run_dir, 2, "keep", 3, api_name="/rate")
    assert KickClipGenerator(config).ratings(run_dir, config) == {2: 1.0}
    assert "re-cut: now 0:00:01-0:00:09" in client.predict(run_dir, 1, 1.0, 9.0,
                                                            api_name="/recut")
    zipped = client.predict(run_dir, api_name="/zip_clips")
    assert [Path(d).name for d in zipped] == ["highlights.json", "clips.zip"]
    # issue 17: the files for video editors, as one zip of the run's exports/
    handed = client.predict(run_dir, api_name="/editor_exports")
    assert [Path(d).name for d in handed] == ["highlights.json", "exports.zip"]
    with zipfile.ZipFile(handed[1]) as archive:
        assert {"highlights.otio", "highlights.edl", "chapters.txt"} <= {
            Path(n).name for n in archive.namelist()}
    text, _ = client.predict(api_name="/model_status")
    assert "Based on **1 rating** (1 kept, 0 skipped)" in text
    # Gradio's copy of what it handed out lives in the output folder, not the system's temp
    assert list((Path(config.output_dir) / gi.CACHE_NAME).rglob("clips.zip"))


@pytest.mark.slow  # two analyses through the server: ~7 s
def test_runs_made_after_the_server_started_are_listed_and_selected(server, short_stream):
    """The lists read the disk on every page load and tab, and an Analyse selects its run;
    /analyze needs nothing but the source (every other field has its default)."""
    from gradio_client import Client

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
        _, summary, *_, review, pick, history = client.predict(
            str(short_stream), **settings, api_name="/analyze")
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


def test_the_server_touches_no_folder_outside_its_output(server, tmp_path):
    """Run folders come from the browser: one outside the output folder is refused by every
    endpoint that takes one, before anything is read, rated or re-cut."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, config = server
    client = Client(url + "/", verbose=False)
    outside = [str(tmp_path), str(Path(config.output_dir) / ".."), str(config.output_dir)]
    for run_dir in outside:
        for args, api in (((run_dir,), "/open_run"), ((run_dir,), "/zip_clips"),
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
@pytest.mark.slow  # a browser, two runs, a rating per clip, a re-cut: ~30 s
def test_a_first_time_user_in_a_real_browser(server, sample_stream, short_stream, tmp_path):
    """Analyse, rate every clip from its card (one click or key each), trim one, see the
    model's summary change, and open an older run from History - two runs made after the
    server started."""
    from gradio_client import Client
    from playwright.sync_api import expect, sync_playwright

    url, config = server
    older = Client(url + "/", verbose=False).predict(str(short_stream), None, 3, 10, 3, 2,
                                                     api_name="/analyze")[6]["value"]
    before = {r["run_dir"] for r in KickClipGenerator(config).list_runs(config)}
    rated_before = KickClipGenerator(config).model_status(config).ratings  # earlier tests'
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(url, timeout=60_000)
        page.get_by_text("Kick Clip Generator").first.wait_for(timeout=60_000)
        go = page.get_by_role("button", name="Analyse", exact=True)
        cancel = page.get_by_role("button", name="Cancel")
        expect(cancel).to_be_disabled()  # nothing to cancel yet
        # a mistake first: its error toast must not stay over the next run's results
        page.get_by_label("Kick link, URL or file path").fill("nothing-here.mp4")
        go.click()
        toast = page.locator(".toast-body", has_text="no such file")
        toast.first.wait_for(timeout=30_000)
        page.locator("input[type=file]").first.set_input_files(str(sample_stream))
        page.locator(".file-preview, .file-name", has_text="sample.mp4").first.wait_for(
            timeout=30_000)
        go.click()
        # the progress bar names the stage while the run goes on, once
        stage = page.get_by_text(re.compile(r"(chunk \d+/\d+|scoring|cutting clip \d+/\d+)"
                                            r" - \d+\.\d%"))
        stage.first.wait_for(timeout=60_000)
        assert stage.count() <= 1
        expect(toast).to_have_count(0)
        # done: the Review tab shows the new run's cards
        cards = page.locator("#kcg-cards .kcg-card")
        cards.first.wait_for(timeout=120_000)
        [new] = {r["run_dir"] for r in KickClipGenerator(config).list_runs(config)} - before
        n = len(KickClipGenerator.load_run(new)["highlights"])
        assert n >= 4
        expect(cards).to_have_count(n)
        assert page.locator("#kcg-cards video[poster*='.jpg']").count() == n
        assert not re.search(r"\(\+\d|mfcc_|\bz\b", page.locator("#kcg-cards").inner_text())
        # the timeline: clicking a clip's band selects its card
        page.locator("#kcg-timeline g[data-rank='3']").click()
        expect(cards.nth(2)).to_have_class(re.compile("kcg-sel"))
        # rating the run: one click per card; the last two by keyboard (Y keeps, N skips)
        for i in range(n - 2):
            cards.nth(i).get_by_role("button", name="Keep" if i % 3 else "Skip").click()
            expect(cards.nth(i)).to_have_class(re.compile("kcg-(keep|skip)"), timeout=30_000)
        page.locator("body").press("j")  # rating selected the next card; J moves on
        page.locator("body").press("k")
        page.locator("body").press("y")
        expect(cards.nth(n - 2)).to_have_class(re.compile("kcg-keep"), timeout=30_000)
        page.locator("body").press("n")
        expect(cards.nth(n - 1)).to_have_class(re.compile("kcg-skip"), timeout=30_000)
        # trim clip 1: its start a second later, then re-cut
        start = KickClipGenerator.load_run(new)["highlights"][0]["start"]
        first = cards.nth(0)
        first.locator("summary").click()
        first.get_by_role("button", name="+1s").first.click()
        first.get_by_role("button", name="Re-cut").click()
        page.get_by_text(re.compile(r"Clip 1 re-cut: now")).wait_for(timeout=30_000)
        page.get_by_role("tab", name="Analyse").click()
        expect(cancel).to_be_disabled()  # the run is over
        # the model's summary counts every rating
        page.get_by_role("tab", name="Model").click()
        page.get_by_text(f"Based on {rated_before + n} ratings").wait_for(timeout=30_000)
        shot = Path(os.environ.get("KCG_SCREENSHOT_DIR", tmp_path)) / "model.png"
        page.screenshot(path=str(shot), full_page=True)
        # History: the older run, opened, is in Review with its source in the Analyse box
        page.get_by_role("tab", name="History").click()
        page.get_by_role("gridcell", name=Path(older).name).first.click()
        page.get_by_role("button", name="Open").click()
        clips = len(KickClipGenerator.load_run(older)["highlights"])
        expect(cards).to_have_count(clips, timeout=30_000)
        expect(page.get_by_role("tab", name="Review")).to_have_attribute("aria-selected",
                                                                         "true")
        assert page.get_by_label("Kick link, URL or file path").input_value() == str(
            short_stream)
        browser.close()
    ratings = KickClipGenerator(config).ratings(new, config)
    assert len(ratings) == n and set(ratings.values()) == {0.0, 1.0}
    trimmed = KickClipGenerator.load_run(new)["highlights"][0]
    assert trimmed["start"] == pytest.approx(start + 1.0, abs=0.05)
    print(f"browser test: {time.monotonic() - started:.1f} s")


# --- issue 16: 9:16 shorts, captions and the webcam box -----------------------------------------

CAM_BOX = (320, 6, 154, 120)  # the planted webcam overlay of `cam_stream` (source pixels)


def test_cards_show_the_9x16_link_and_what_was_said(tmp_path):
    vertical = tmp_path / "clip_01_00-00-01_9x16.mp4"
    vertical.write_bytes(b"x")
    said = "<b>gg</b> & we won " + "really " * 40
    data = {"duration_s": 20.0, "highlights": [
        dict(rank=1, start=1.0, end=6.0, score=1.0, reasons=[], kind="audio",
             clip_path=str(tmp_path / "clip_01_00-00-01.mp4"), vertical_path=str(vertical),
             transcript="<script>alert(1)</script> hello"),
        dict(rank=2, start=8.0, end=12.0, score=0.5, reasons=[], kind="video",
             clip_path=str(tmp_path / "clip_02.mp4"), transcript=said),
        dict(rank=3, start=14.0, end=18.0, score=0.2, reasons=[], kind="video",
             clip_path=str(tmp_path / "clip_03.mp4"),
             vertical_path=str(tmp_path / "gone_9x16.mp4"))]}
    cards = cards_html(str(tmp_path), data, {})
    card = re.findall(r"<div class='kcg-card.*?(?=<div class='kcg-card|$)", cards, re.S)
    assert len(card) == 3
    assert f"class='kcg-9x16' href='{file_url(vertical)}'" in card[0]
    assert "kcg-9x16" not in card[1] and "kcg-9x16" not in card[2]  # none, or not on disk
    assert "<script>" not in cards and "&lt;script&gt;alert(1)&lt;/script&gt; hello" in card[0]
    assert "<details class='kcg-said'>" in card[1] and "&lt;b&gt;gg&lt;/b&gt; &amp;" in card[1]
    assert "<details class='kcg-said'>" not in card[0] and "kcg-said" not in card[2]


@pytest.mark.slow  # an analysis of the 20 s stream: ~5 s
def test_captions_without_a_model_still_make_the_run_and_say_so_in_ui_words(
        ui, short_stream, monkeypatch):
    import captions

    monkeypatch.setattr(captions, "bundled_model", lambda: None)
    monkeypatch.setattr(captions, "_models", {})
    done, summary, *_ = ui.analyze(**analyse_args(
        str(short_stream), top_n=1, captions=True, captions_model="./no-such-model"))
    assert "they are in **Review**" in done
    assert "captions: no model folder ./no-such-model" in summary
    assert "Advanced > Captions model" in summary and "pass " not in summary
    assert "--" not in summary.replace(" - ", "")


@pytest.fixture(scope="module")
def cam_stream(tmp_path_factory, ffmpeg) -> Path:
    """12 s of a game with scikit-image's astronaut as a webcam in the top right corner."""
    import shorts_media

    if not shorts_media.face_available():
        pytest.skip("scikit-image (the webcam's face) is not installed")
    folder = tmp_path_factory.mktemp("ui-cam")
    return shorts_media.make_stream(folder / "cam.mp4", 12.0, width=480, height=270,
                                    cam=CAM_BOX, ffmpeg=ffmpeg)


def editor(run_dir: str) -> gi.UI:
    """The handlers over the server's output folder (for what the API does not return)."""
    config = Config(output_dir=Path(run_dir).parent)
    return gi.UI(KickClipGenerator(config), config)


@pytest.fixture(scope="module")
def vertical_run(server, cam_stream):
    """/analyze with Vertical 9:16 shorts on (no captions): (client, run folder, result)."""
    from gradio_client import Client

    url, _ = server
    client = Client(url + "/", verbose=False)
    started = time.monotonic()
    result = client.predict(str(cam_stream), top_n=2, clip_length_s=5, pre_roll_s=1,
                            min_gap_s=1, vertical=True, layout="auto", api_name="/analyze")
    print(f"vertical analyse: {time.monotonic() - started:.1f} s")
    return client, result[6]["value"], result


@pytest.mark.slow  # a 12 s stream analysed with two 9:16 clips through the server: ~10 s
def test_analyse_with_vertical_on_gives_every_clip_a_9x16_file(vertical_run):
    client, run_dir, result = vertical_run
    cards = result[3]
    data = KickClipGenerator.load_run(run_dir)
    assert data["highlights"] and not data["failed_clips"]
    for h in data["highlights"]:
        assert Path(h["vertical_path"]).stat().st_size > 0
        assert Path(h["vertical_path"]).name == Path(h["clip_path"]).stem + "_9x16.mp4"
        assert file_url(h["vertical_path"]) in cards
    assert data["config"]["vertical"] is True and data["config"]["captions"] is False
    # the box editor of the run: shown, the numbers are the run's box
    # the box editor of the run (its fold follows the run shown): the run's box, prefilled
    shown, picture, *numbers, layout, said = editor(run_dir).facecam_view(run_dir)
    assert shown["visible"] is True and picture.shape == (270, 480, 3)
    box = data["facecam"]
    assert numbers == ([box[k] for k in "xywh"] if box else [None] * 4)
    assert layout == "auto" and "Re-render 9:16 clips" in said
    assert editor(run_dir).facecam_view("")[0]["visible"] is False  # no run: no editor


@pytest.mark.slow  # two 9:16 clips rendered again: ~6 s
def test_the_box_editor_re_renders_the_9x16_clips_with_the_new_box(vertical_run):
    from gradio_client.exceptions import AppError

    client, run_dir, _ = vertical_run
    before = KickClipGenerator.load_run(run_dir)
    stamps = {h["vertical_path"]: Path(h["vertical_path"]).stat().st_mtime_ns
              for h in before["highlights"]}
    clips = {h["clip_path"]: Path(h["clip_path"]).stat().st_mtime_ns
             for h in before["highlights"]}
    with pytest.raises(AppError, match=r"does not fit the picture \(480x270\)"):
        client.predict(run_dir, 400, 6, 154, 120, "split", api_name="/reshort")
    with pytest.raises(AppError, match="needs all four numbers"):
        client.predict(run_dir, 300, None, 154, 120, "split", api_name="/reshort")
    with pytest.raises(AppError, match="is not a run in"):
        client.predict(str(Path(run_dir).parent), *CAM_BOX, "split", api_name="/reshort")
    assert KickClipGenerator.load_run(run_dir) == before  # nothing touched by a bad box
    said = client.predict(run_dir, *CAM_BOX, "split", api_name="/reshort")
    n = len(before["highlights"])
    assert said == (f"Re-rendered {n} 9:16 clip{'s' if n != 1 else ''} (split layout, "
                    "webcam box 320,6,154,120).")
    after = KickClipGenerator.load_run(run_dir)
    assert after["facecam"] == dict(zip("xywh", CAM_BOX), confidence=1.0)
    assert all(Path(p).stat().st_mtime_ns != t for p, t in stamps.items())
    assert all(Path(p).stat().st_mtime_ns == t for p, t in clips.items())  # 9:16 only
    # the editor now shows the new box, drawn on the still
    _, drawn, *numbers, _, _ = editor(run_dir).facecam_view(run_dir)
    assert numbers == list(CAM_BOX)
    x, y, w, h = CAM_BOX
    r, g, b = (int(v) for v in drawn[y + h // 2, x])
    assert r > 200 and g > 150 and b < 90, (r, g, b)
