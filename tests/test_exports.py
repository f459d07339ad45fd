"""Exports for editors (exports.py, timecode.FrameRate): every file read back by its reader,
timecodes at 29.97 / 59.94 / 25 fps landing on the frame each clip starts with, YouTube's
chapter rules, the CLI's --export and `main.py export`.

The sources are tiny lavfi videos whose every frame shows its own number in binary (ten
black/white cells), so the frame a timecode points at can be read back after decoding."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import subprocess
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

import clips
import exports
import main
import media
from config import Config
from errors import ConfigError
from kick_clip_generator import KickClipGenerator
from timecode import FrameRate, frame_rate

WIDTH, HEIGHT, CELL = 160, 32, 16  # ten cells of 16 px: frame numbers up to 1023
RATES = {"29.97": "30000/1001", "59.94": "60000/1001", "25": "25"}
SOURCE_S = 8.0


def make_counter(ffmpeg: str, path: Path, rate: str, duration_s: float,
                 loud: tuple[float, float] | None = None) -> Path:
    """A video whose frame N shows N in binary (cell k white when bit k is set), with a tone
    that is loud between `loud` seconds."""
    bits = f"if(bitand(floor(N/pow(2\\,floor(X/{CELL})))\\,1)\\,235\\,16)"
    video = (f"color=c=black:s={WIDTH}x{HEIGHT}:r={rate}:d={duration_s},format=gray,"
             f"geq=lum='{bits}'")
    gain = f"(1+20*between(t\\,{loud[0]}\\,{loud[1]}))" if loud else "1"
    audio = f"aevalsrc='0.02*{gain}*sin(2*PI*440*t)':s=22050:d={duration_s}"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    video, "-f", "lavfi", "-i", audio, "-c:v", "libx264", "-preset",
                    "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(path)], check=True, timeout=60)
    return path


def frame_number(ffmpeg: str, video: Path, at_s: float = 0.0) -> int:
    """The number drawn on the frame ffmpeg shows at `at_s` (its exact seek)."""
    raw = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-ss", f"{at_s:.6f}",
                          "-i", str(video), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                          "gray", "-"], check=True, capture_output=True, timeout=60).stdout
    row = raw[(HEIGHT // 2) * WIDTH:(HEIGHT // 2 + 1) * WIDTH]
    return sum(1 << k for k in range(WIDTH // CELL) if row[k * CELL + CELL // 2] > 128)


@pytest.fixture(scope="module")
def sources(ffmpeg, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("counters")
    return {name: make_counter(ffmpeg, folder / f"counter_{name}.mp4", rate, SOURCE_S)
            for name, rate in RATES.items()}


def run_data(source: Path, info: media.MediaInfo, highlights: list[dict]) -> dict:
    """A run's highlights.json data as exports read it."""
    return {"source": str(source), "title": f"Counter {source.stem}",
            "duration_s": info.duration_s, "media": info.to_dict(), "highlights": highlights,
            "run_dir": None}


def highlight(rank: int, start: float, end: float, kind: str = "audio", **extra) -> dict:
    return {"rank": rank, "start": start, "end": end, "peak": (start + end) / 2,
            "score": 3.0 - rank / 10, "kind": kind,
            "reasons": ["loud audio (+2.1)", "fast motion (+0.8)"], **extra}


# --- timecode -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fps", [29.97, 59.94, 25, 30, 60, 23.98])
def test_timecode_agrees_with_opentimelineio_and_parses_back(fps):
    rate = frame_rate(fps)
    for n in [*range(0, 40000, 7), 17981, 17982, 17983, 107892, 10 * 107892 + 5]:
        tc = rate.timecode(n)
        assert tc == otio.opentime.to_timecode(otio.opentime.RationalTime(n, rate.fps),
                                               rate.fps, rate.drop_frame)
        assert rate.parse(tc) == n


def test_rates_editors_expect_and_no_drift_over_ten_hours():
    assert (frame_rate(29.97).num, frame_rate(29.97).den, frame_rate(29.97).drop_frame) == \
        (30000, 1001, True)
    assert frame_rate(59.94).drop_frame and frame_rate(59.94).timecode(107892) == "00:30:00;00"
    assert not frame_rate(29.97, drop_frame=False).drop_frame
    assert frame_rate(25).label == "25 fps, non-drop-frame timecode"
    assert frame_rate(23.98).den == 1001 and not frame_rate(23.98).drop_frame
    ntsc = frame_rate(29.97)
    assert ntsc.frames(36000.0) == 1078922  # ceil(1078921.08): exact, no float-rate drift
    assert 0 < ntsc.seconds(ntsc.frames(36000.0)) - 36000.0 < 1 / ntsc.fps
    assert ntsc.timecode(1078920) == "10:00:00;00"  # drop-frame keeps to the clock (~2 ms)
    assert frame_rate(29.97, drop_frame=False).timecode(1078920) == "09:59:24:00"
    assert frame_rate(29.97).rational(30) == "30030/30000s"
    with pytest.raises(ValueError):
        frame_rate(29.97).parse("00:01:00;00")  # a number drop-frame skips


def test_probed_rates_and_a_variable_frame_rate(ffmpeg, sources, tmp_path):
    got = {name: media.probe_media(ffmpeg, str(path)) for name, path in sources.items()}
    for name, info in got.items():
        rate = frame_rate(info.fps, info.fps_nominal)
        assert rate.name == name and not rate.note
    # every 5th frame of 30 fps kept with its own time: 6 fps on average-ish, not steady
    vfr = tmp_path / "vfr.mp4"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x90:rate=30:duration=4", "-vf",
                    "select='not(mod(n\\,5))+eq(n\\,1)'", "-fps_mode", "vfr", "-c:v",
                    "libx264", "-preset", "ultrafast", str(vfr)], check=True, timeout=60)
    info = media.probe_media(ffmpeg, str(vfr))
    assert info.fps != info.fps_nominal  # ffmpeg: "6.48 fps, 6 tbr"
    rate = frame_rate(info.fps, info.fps_nominal)
    assert (rate.num, rate.den) == (round(info.fps_nominal), 1)
    assert "variable frame rate" in rate.label and f"{info.fps:.3f}" in rate.label


# --- frames: the timecode of each file shows the frame the clip starts with ---------------------

@pytest.mark.parametrize("name", list(RATES))
def test_timecodes_land_on_the_first_frame_of_each_clip(name, sources, ffmpeg, tmp_path,
                                                        config):
    source = sources[name]
    info = media.probe_media(ffmpeg, str(source))
    starts = [(1.2345, 3.5), (4.01, 5.9), (6.5, 7.75)]  # not on frame boundaries
    data = run_data(source, info, [highlight(i, s, e) for i, (s, e) in enumerate(starts, 1)])
    done = exports.write_exports(tmp_path, data, "edl,otio,fcpxml")
    assert not done.failed and name in done.rate
    rate = exports.rate_of(data)

    # the EDL, read by OpenTimelineIO's CMX3600 reader
    timeline = otio.adapters.read_from_file(str(tmp_path / "exports/highlights.edl"),
                                            "cmx_3600", rate=rate.fps)
    edl_starts = [c.source_range.start_time for c in timeline.find_clips()]
    edl_text = (tmp_path / "exports/highlights.edl").read_text()
    source_in = re.findall(r"^\d{3}\s+\S+\s+\S+\s+C\s+(\S+)", edl_text, re.M)
    fcp = ET.parse(tmp_path / "exports/highlights.fcpxml").getroot()
    fcp_starts = [Fraction(c.get("start").rstrip("s")) for c in fcp.iter("asset-clip")]

    for i, (start, end) in enumerate(starts):
        clip = clips.cut_one(ffmpeg, str(source), start, end, tmp_path / f"clip{i}.mp4", True,
                             info.duration_s, config, None).path
        first = frame_number(ffmpeg, clip)
        assert first == rate.frames(start)
        assert rate.parse(source_in[i]) == first
        assert edl_starts[i].to_frames() == first
        at = rate.seconds(rate.parse(source_in[i]))
        assert frame_number(ffmpeg, source, at) == first  # decoded at the timecode
        assert fcp_starts[i] == Fraction(first * rate.den, rate.num)


# --- each file read back ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(sources, ffmpeg, tmp_path_factory) -> tuple[Path, dict, FrameRate]:
    """Exports of a 29.97 fps run with three highlights (rank order != time order)."""
    run_dir = tmp_path_factory.mktemp("run")
    source = sources["29.97"]
    info = media.probe_media(ffmpeg, str(source))
    data = run_data(source, info, [highlight(1, 4.0, 6.0, "audio"),
                                   highlight(2, 0.5, 2.0, "video", transcript="no way"),
                                   highlight(3, 6.5, 7.5, "chat")])
    data["run_dir"] = str(run_dir)
    done = exports.write_exports(run_dir, data, "all")
    assert not done.failed
    return run_dir / "exports", data, exports.rate_of(data)


def test_otio_reads_back_the_same_ranges_and_markers(exported):
    folder, data, rate = exported
    timeline = otio.adapters.read_from_file(str(folder / "highlights.otio"))
    found = list(timeline.find_clips())
    assert [c.metadata["kick_clip_generator"]["rank"] for c in found] == [1, 2, 3]
    assert timeline.global_start_time.to_timecode(rate.fps, rate.drop_frame) == "01:00:00;00"
    for clip, h in zip(found, sorted(data["highlights"], key=lambda h: h["rank"])):
        assert clip.source_range.start_time.to_frames() == rate.frames(h["start"])
        assert clip.source_range.end_time_exclusive().to_frames() == rate.frames(h["end"])
        assert clip.media_reference.target_url == Path(data["source"]).resolve().as_uri()
        (marker,) = clip.markers
        assert marker.name.startswith(f"#{h['rank']} {h['kind']}: loud audio")
        assert marker.color == exports.COLOURS[h["kind"]]
        assert clip.source_range.contains(marker.marked_range.start_time)
    vod = otio.adapters.read_from_file(str(folder / "markers.otio"))
    (whole,) = vod.find_clips()
    assert whole.source_range.start_time.to_frames() == 0
    assert [(m.marked_range.start_time.to_frames(), m.marked_range.duration.to_frames())
            for m in whole.markers] == [(rate.frames(0.5), rate.frames(2.0) - rate.frames(0.5)),
                                        (rate.frames(4.0), rate.frames(6.0) - rate.frames(4.0)),
                                        (rate.frames(6.5), rate.frames(7.5) - rate.frames(6.5))]


def test_edl_reads_back_through_the_cmx3600_reader(exported):
    folder, data, rate = exported
    text = (folder / "highlights.edl").read_text()
    assert "FCM: DROP FRAME" in text
    timeline = otio.adapters.read_from_string(text, "cmx_3600", rate=rate.fps)
    video = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video][0]
    found = list(video.find_clips())
    assert len(found) == 3
    record_in = [rate.parse(tc) for tc in re.findall(r" C\s+\S+ \S+ (\S+) \S+$", text, re.M)]
    assert record_in[0] == rate.parse(exports.TIMELINE_START)
    for clip, h, rec in zip(found, sorted(data["highlights"], key=lambda h: h["rank"]),
                            record_in):
        assert clip.metadata["cmx_3600"]["reel"] == "counter_29_97"  # the reel column
        assert clip.media_reference.target_url == str(Path(data["source"]).resolve())
        assert clip.source_range.start_time.to_frames() == rate.frames(h["start"])
        assert clip.duration().to_frames() == rate.frames(h["end"]) - rate.frames(h["start"])
        assert video.range_of_child(clip).start_time.to_frames() == rec - record_in[0]


def test_marker_edl_is_in_resolves_comment_form(exported):
    folder, data, rate = exported
    lines = (folder / "markers.edl").read_text().splitlines()
    assert lines[0].startswith("TITLE: ") and lines[1] == "FCM: DROP FRAME"
    events = [(lines[i], lines[i + 1]) for i in range(3, len(lines), 2)]
    assert len(events) == 3
    first = rate.parse(exports.TIMELINE_START)
    in_time = sorted(data["highlights"], key=lambda h: h["start"])
    for number, ((event, comment), h) in enumerate(zip(events, in_time), 1):
        m = re.fullmatch(r"(\d{3})  001      V     C        (\S+) (\S+) (\S+) (\S+)", event)
        assert m and int(m[1]) == number and m[2] == m[4] and m[3] == m[5]
        assert rate.parse(m[2]) == first + rate.frames(h["start"])
        assert rate.parse(m[3]) == rate.parse(m[2]) + 1
        c = re.fullmatch(r" \|C:ResolveColor(\w+) \|M:(#\d+ [^|]+) \|D:(\d+)", comment)
        assert c, comment
        assert c[1] == exports.RESOLVE_COLOURS[exports.COLOURS[h["kind"]]]
        assert c[2].startswith(f"#{h['rank']} ")
        assert int(c[3]) == rate.frames(h["end"]) - rate.frames(h["start"])


def test_fcpxml_has_the_shape_final_cut_reads_and_references_the_file(exported):
    folder, data, rate = exported
    root = ET.parse(folder / "highlights.fcpxml").getroot()
    assert root.tag == "fcpxml" and root.get("version") == exports.FCPXML_VERSION
    (fmt,) = root.findall("resources/format")
    (asset,) = root.findall("resources/asset")
    frame = Fraction(fmt.get("frameDuration").rstrip("s"))
    assert frame == Fraction(1001, 30000)
    assert asset.get("format") == fmt.get("id")
    assert Path(asset.get("src").removeprefix("file://")).is_file()
    sequence = root.find("library/event/project/sequence")
    assert sequence.get("format") == fmt.get("id") and sequence.get("tcFormat") == "DF"
    offset = Fraction(sequence.get("tcStart").rstrip("s"))
    assert offset / frame == rate.parse(exports.TIMELINE_START)
    clips_ = sequence.findall("spine/asset-clip")
    assert len(clips_) == 3
    for clip, h in zip(clips_, sorted(data["highlights"], key=lambda h: h["rank"])):
        assert clip.get("ref") == asset.get("id")
        times = {k: Fraction(clip.get(k).rstrip("s")) for k in ("offset", "start", "duration")}
        assert all((t / frame).denominator == 1 for t in times.values())  # frame-exact
        assert times["offset"] == offset  # one after another
        assert times["start"] / frame == rate.frames(h["start"])
        assert times["duration"] / frame == rate.frames(h["end"]) - rate.frames(h["start"])
        (marker,) = clip.findall("marker")
        assert times["start"] <= Fraction(marker.get("start").rstrip("s")) < \
            times["start"] + times["duration"]
        offset += times["duration"]
    assert Fraction(sequence.get("duration").rstrip("s")) == offset - Fraction(
        sequence.get("tcStart").rstrip("s"))


def test_csv_is_losslesscuts_start_end_label(exported):
    folder, data, rate = exported
    rows = list(csv.reader(io.StringIO((folder / "highlights.csv").read_text())))
    assert [len(r) for r in rows] == [3, 3, 3]  # no header: LosslessCut reads every line
    assert [float(r[0]) for r in rows] == pytest.approx([0.5, 4.0, 6.5], abs=1 / 29.97)
    assert rows[0][2].startswith("#2 video: loud audio")
    readme = (folder / "README.txt").read_text()
    assert "29.97 fps (30000/1001), drop-frame timecode" in readme


# --- chapters -----------------------------------------------------------------------------------

def check_youtube_rules(text: str, duration_s: float) -> list[int]:
    times = []
    for line in text.splitlines():
        m = re.fullmatch(r"(?:(\d+):)?(\d+):(\d\d) (\S.*)", line)
        assert m, line
        h, mi, s = int(m[1] or 0), int(m[2]), int(m[3])
        times.append(h * 3600 + mi * 60 + s)
        assert len(m[4]) <= exports.CHAPTER_TITLE_CHARS and "<" not in m[4]
    assert times[0] == 0 and times == sorted(times)
    assert all(b - a >= 10 for a, b in zip(times, [*times[1:], duration_s]))
    return times


def test_chapters_follow_youtubes_rules():
    rate = frame_rate(30)
    hs = [highlight(1, 300.0, 330.0), highlight(2, 5.0, 20.0), highlight(3, 120.0, 150.0),
          highlight(4, 125.0, 140.0, transcript="what a <shot> that was from the corner"),
          highlight(5, 595.0, 600.0), highlight(6, 3000.4, 3030.0)]
    data = {"source": "x.mp4", "duration_s": 3605.0, "media": {"fps": 30},
            "highlights": hs}
    text, notes = exports.chapters(data, rate)
    times = check_youtube_rules(text, 3605.0)
    assert times == [0, 120, 300, 595, 3000]  # 5 s (after 0:00) and 125 s (after 120) out
    assert text.splitlines()[0] == "0:00:00 Start"  # an hour or more: H:MM:SS throughout
    assert "2 highlight(s) left out" in notes[0] and len(notes) == 1

    short = {"source": "x.mp4", "duration_s": 40.0, "media": {}, "highlights": [
        highlight(1, 20.0, 35.0, transcript="no way he did that again this is insane")]}
    text, notes = exports.chapters(short, rate)
    check_youtube_rules(text, 40.0)
    assert text.splitlines()[1].startswith('0:20 Loud audio & fast motion: "no way he did')
    assert any("only 2 chapter(s)" in n for n in notes)


# --- the engine and the CLI ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine_run(ffmpeg, tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    source = make_counter(ffmpeg, folder / "loud.mp4", "30000/1001", 24.0, loud=(12.0, 14.0))
    config = Config(output_dir=folder / "out", models_dir=folder / "models",
                    temp_dir=folder / "temp", top_n=2, clip_length_s=4.0, pre_roll_s=1.0,
                    min_gap_s=2.0, chunk_duration_s=12.0, chunk_overlap_s=2.0, workers=1,
                    exports="otio,chapters,csv")
    return KickClipGenerator(config).run(str(source), config), config


@pytest.mark.slow  # the engine run: ~5 s
def test_a_run_writes_the_exports_it_is_asked_for(engine_run):
    result, config = engine_run
    folder = Path(result.run_dir) / "exports"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.txt", "chapters.txt", "highlights.csv", "highlights.otio", "markers.otio",
        "scores.csv"]
    assert any(n.startswith("chapters: only") for n in result.notes)  # 24 s: too short
    rows = list(csv.DictReader(io.StringIO((folder / "scores.csv").read_text())))
    assert len(rows) == int(result.duration_s) and {"time_s", "combined", "audio",
                                                    "video"} <= set(rows[0])
    loudest = max(rows, key=lambda r: float(r["audio"] or "-inf"))
    assert 11 <= float(loudest["time_s"]) <= 14
    timeline = otio.adapters.read_from_file(str(folder / "highlights.otio"))
    assert len(list(timeline.find_clips())) == len(result.highlights)


@pytest.mark.slow  # the engine run: ~5 s
def test_export_again_and_the_download_zip(engine_run):
    result, config = engine_run
    generator = KickClipGenerator(config)
    done = generator.export(result.run_dir, "edl")
    assert {p.name for p in done.files} == {"highlights.edl", "markers.edl", "README.txt"}
    archive = generator.exports_zip(result.run_dir)
    import zipfile

    with zipfile.ZipFile(archive) as z:
        assert "exports/highlights.edl" in z.namelist() and "exports/scores.csv" in z.namelist()


def test_a_failed_export_is_logged_and_the_others_are_written(exported, tmp_path, caplog):
    _, data, _ = exported
    (tmp_path / "exports" / "highlights.edl").mkdir(parents=True)  # cannot be replaced
    done = exports.write_exports(tmp_path, data, "edl,chapters")
    assert done.failed == ["highlights.edl"]
    assert (tmp_path / "exports" / "markers.edl").is_file()
    assert (tmp_path / "exports" / "chapters.txt").is_file()
    assert "highlights.edl not written" in caplog.text and "export it again" in caplog.text
    (tmp_path / "file").write_text("")
    assert exports.write_exports(tmp_path / "file", data, "all").failed  # never raises


@pytest.mark.slow  # the engine run: ~5 s
def test_cli_export_flag_and_subcommand(engine_run, capsys, monkeypatch):
    result, config = engine_run
    assert Config(exports="none").exports == "none"
    assert exports.parse_kinds("none") == () and exports.parse_kinds("") == exports.EXPORT_KINDS
    with pytest.raises(ConfigError):
        Config(exports="otio,pdf")
    assert main.main(["x.mp4", "--export", "pdf"]) == 2
    assert "--export" in capsys.readouterr().err
    monkeypatch.setenv("KCG_MODELS_DIR", str(config.models_dir))
    assert main.main(["export", result.run_dir, "--export", "fcpxml"]) == 0
    out = capsys.readouterr().out
    assert "29.97 fps (30000/1001), drop-frame timecode" in out
    assert (Path(result.run_dir) / "exports" / "highlights.fcpxml").is_file()


def test_config_exports_is_checked_like_every_setting():
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(Config(), exports="edl;csv")
    assert err.value.field == "exports"
