"""Damaged files, hostile playlists and full disks: the run goes on or fails cleanly."""

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import media
import storage
from config import Config
from errors import InputError
from kick_clip_generator import KickClipGenerator

ROOT = Path(__file__).resolve().parent.parent


def run_beside(models: Path, stream: Path, tmp_path: Path):
    """Analyse `stream` with `models` as the models folder; the run must go on and store
    samples. Returns (result, the names in the models folder afterwards)."""
    config = Config(output_dir=tmp_path / "out", models_dir=models, make_clips=False)
    result = KickClipGenerator(config).run(str(stream), config)
    assert result.highlights and result.model["samples"] > 0
    return result, sorted(p.name for p in models.iterdir())


def test_corrupt_model_and_databases_are_set_aside_and_the_run_goes_on(sample_stream, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "audio_model.npz").write_bytes(b"PK\x03\x04 definitely not a model")
    (models / "samples.sqlite3").write_bytes(b"garbage " * 100)
    (models / "feature_cache.sqlite3").write_bytes(b"more garbage " * 100)
    result, names = run_beside(models, sample_stream, tmp_path)
    for original in ("audio_model.npz", "samples.sqlite3", "feature_cache.sqlite3"):
        assert any(n.startswith(f"{original}.corrupt-") for n in names), names
        assert original in names  # rebuilt by this run
    assert any(n.startswith("ranked by the heuristic") for n in result.notes)


def test_other_programs_databases_and_models_are_set_aside_too(sample_stream, tmp_path):
    """Valid SQLite files with someone else's tables, and a valid .npz that is no model."""
    import sqlite3

    import numpy as np

    models = tmp_path / "models"
    models.mkdir()
    for name, table in (("samples.sqlite3", "samples"), ("feature_cache.sqlite3", "chunks")):
        with sqlite3.connect(models / name) as db:
            db.execute(f"CREATE TABLE {table} (x TEXT)")
            db.execute(f"INSERT INTO {table} VALUES ('theirs')")
    np.savez(models / "video_model.npz", weights=np.ones(3))
    _, names = run_beside(models, sample_stream, tmp_path)
    for original in ("samples.sqlite3", "feature_cache.sqlite3", "video_model.npz"):
        assert any(n.startswith(f"{original}.corrupt-") for n in names), names


def test_a_playlist_pointing_at_local_files_is_refused(http_root, media_dir, hls_stream,
                                                       ffmpeg):
    """A remote playlist naming a local file (here a real, playable segment) is not followed:
    ffmpeg reads remote sources with an http/https/tcp/tls/crypto protocol whitelist."""
    local_segment = sorted(hls_stream.parent.glob("*.ts"))[0]
    hostile = media_dir / "hostile.m3u8"
    hostile.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:6.0,\n"
                       f"file://{local_segment}\n#EXT-X-ENDLIST\n")
    with pytest.raises(InputError, match="whitelist"):
        media.probe_media(ffmpeg, f"{http_root}/hostile.m3u8")
    honest = media_dir / "honest.m3u8"  # the same segment by http is fine
    honest.write_text(hostile.read_text().replace(f"file://{local_segment}",
                                                  f"{http_root}/hls/{local_segment.name}"))
    assert media.probe_media(ffmpeg, f"{http_root}/honest.m3u8").has_audio


@pytest.mark.slow  # ~15 s
def test_a_full_disk_fails_one_clip_at_a_time_and_keeps_the_rest(sample_stream, tmp_path):
    """Files over 1 MB cannot be written (RLIMIT_FSIZE): big clips fail (smart cuts keep the
    source's bitrate: the noisy video event's clip is ~1.5 MB, the calm ones ~0.5 MB), the
    run finishes, the JSON lists the failures and no partial file is left."""
    out = tmp_path / "out"
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import main; "
            f"sys.exit(main.main([{str(sample_stream)!r}, '--json', '--output-dir', "
            f"{str(out)!r}, '--models-dir', {str(tmp_path / 'models')!r}, '--top-n', '6', "
            "'--clip-length', '10', '--pre-roll', '2', '--min-gap', '0']))")

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path,
                          preexec_fn=limit_file_size, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    data = json.loads(done.stdout)
    assert data["failed_clips"], "expected some clips to hit the size limit"
    failed = {f["rank"] for f in data["failed_clips"]}
    for h in data["highlights"]:
        assert (h["clip_path"] is None) == (h["rank"] in failed)
    run_dir = Path(data["run_dir"])
    assert not [p for p in run_dir.iterdir() if ".part" in p.name]
    kept = [h for h in data["highlights"] if h["clip_path"]]
    assert kept and all(Path(h["clip_path"]).stat().st_size > 0 for h in kept)


def test_logs_never_contain_tokens_or_cookies(kick_hls, tmp_path, monkeypatch):
    """A -vv run on a Kick link with a session token: the log file has the DEBUG argv lines
    but no token, no bearer header, no JWT."""
    import logging

    import main
    from kick_server import LIVE_SLUG, Fault, KickServer

    token = "sekrit-session-token-42"
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzM4NCJ9.eyJleHAiOjE3OTk5OTk5OTl9.FAKEsig0FAKEsig0"
    monkeypatch.chdir(tmp_path)
    with KickServer(hls_dir=kick_hls) as server:
        for name in ("KICK_BASE_URL", "KICK_WEB_BASE_URL", "KICK_MOBILE_BASE_URL"):
            monkeypatch.setenv(name, server.base_url)
        # like IVS: every variant URL carries the playback token
        server.add_fault("/hls/master.m3u8", Fault.text(
            "#EXTM3U\n"
            f"#EXT-X-STREAM-INF:BANDWIDTH=2500000\n{server.base_url}/hls/720p30/"
            f"playlist.m3u8?token={jwt}\n"
            f"#EXT-X-STREAM-INF:BANDWIDTH=230000\n{server.base_url}/hls/160p30/"
            f"playlist.m3u8?token={jwt}\n"), times=None)
        code = main.main([f"https://kick.com/{LIVE_SLUG}", "--kick-token", token, "-vv",
                          "--live-for", "20", "--no-clips", "-q"])
    logging.shutdown()
    assert code == 0
    log = (tmp_path / "logs" / "kick_clip_generator.log").read_text()
    assert "160p30/playlist.m3u8?" in log  # the live follower's requests were logged...
    assert token not in log and "Bearer" not in log
    assert "eyJ" not in log  # ...without the playback JWT


def test_atomic_writes_replace_whole_files_or_leave_the_old_one(tmp_path):
    target = tmp_path / "highlights.json"
    storage.write_json(target, {"version": 1, "title": "Überraschung"})
    assert json.loads(target.read_text(encoding="utf-8"))["title"] == "Überraschung"

    def crash(tmp: Path) -> None:
        assert tmp == storage.temp_path(target) == tmp_path / ".highlights.part.json"
        tmp.write_text('{"half": ')
        raise OSError("No space left on device")

    with pytest.raises(OSError):
        storage.write_atomically(target, crash)
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["highlights.json"]


def test_safe_names_serve_files_and_model_folders_alike(tmp_path):
    from highlight_model import MLHighlightModel

    assert storage.safe_name("CON") == "stream_CON"  # a channel called "con" works on Windows
    model = MLHighlightModel(tmp_path)
    assert model._path("audio", "con").parent.name == "stream_con"
    assert model._path("audio", "xqc").parent.name == "xqc"


def test_redact_scrubs_urls_headers_jwts_and_named_secrets():
    from logsetup import redact

    text = ("GET https://x/a.m3u8?token=eyJhbGciOiJFUzM4NCJ9.eyJleHAiOjF9.sig&x=1 "
            "Authorization: Bearer abc.def mysecret")
    clean = redact(text, ["mysecret"])
    assert "eyJ" not in clean and "abc.def" not in clean and "mysecret" not in clean
    assert "x=1" in clean and "https://x/a.m3u8" in clean


def test_a_recut_never_deletes_a_file_outside_its_run(sample_stream, tmp_path):
    """highlights.json is a file on disk anyone may edit: a re-cut removes the clip it
    replaces only when that clip lies in the run's own folder."""
    config = Config(output_dir=tmp_path / "out", models_dir=tmp_path / "models", top_n=1)
    generator = KickClipGenerator(config)
    result = generator.run(str(sample_stream), config)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    json_path = Path(result.run_dir) / "highlights.json"
    data = json.loads(json_path.read_text())
    data["highlights"][0]["clip_path"] = str(victim)
    json_path.write_text(json.dumps(data))
    clip = generator.recut(result.run_dir, 1, 2.0, 8.0, config)
    assert victim.read_text() == "keep me" and Path(clip.clip_path).exists()
