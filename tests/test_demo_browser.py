"""`deepxc demo` in a real headless Chromium: the page loads without console errors, and a
run of each task kind shows its answer, latency and memory; the qemu mark on an ARM
target; uploads of a WAV and an image. Screenshots go to tests/artifacts/demo/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from demo_tasks import EXAMPLES, REPO, make_examples, onnx_outputs, read_wav, wav_bytes
from scipy.signal import resample_poly

from deepxc.demo import verification

pytest.importorskip("flask")
pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = os.path.join(REPO, "tests", "artifacts", "demo")
RUN_TIMEOUT_S = 300

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver (Debian chromium, "
        "chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real `deepxc demo` process on a free port; its URL."""
    examples = make_examples(str(tmp_path_factory.mktemp("examples")))
    cache = str(tmp_path_factory.mktemp("cache"))
    command = [sys.executable, "-m", "deepxc.cli.main", "demo", "--port", "0"]
    command += ["--examples", examples, "--cache", cache]
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    match = re.search(r"demo at (http://\S+)", line)
    if not match:
        process.kill()
        raise AssertionError(f"deepxc demo did not say where it serves: {line!r}")
    yield match.group(1), examples
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage"]
    # a microphone that plays a beep, allowed without asking
    flags += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    for flag in flags:
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1300")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    os.makedirs(ARTIFACTS, exist_ok=True)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> None:
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda b: len(Select(b.find_element(By.ID, "task")).options))


def choose(browser, task: str, target: str = "host", goal: str = "none", level: int = 0):
    Select(browser.find_element(By.ID, "task")).select_by_value(task)
    Select(browser.find_element(By.ID, "target")).select_by_value(target)
    Select(browser.find_element(By.ID, "goal")).select_by_value(goal)
    Select(browser.find_element(By.ID, "level")).select_by_value(str(level))


def wait_for_result(browser) -> str:
    """The verdict line once the result shows; fails with the page's error if one shows."""

    def finished(b):
        error = b.find_element(By.ID, "error")
        return error.is_displayed() or b.find_element(By.ID, "result").is_displayed()

    WebDriverWait(browser, RUN_TIMEOUT_S, poll_frequency=0.5).until(finished)
    error = browser.find_element(By.ID, "error")
    assert not error.is_displayed(), error.text
    assert re.search(r"\d+\.\d{3} ms", browser.find_element(By.ID, "latency").text)
    assert "arena" in browser.find_element(By.ID, "memory").text
    return browser.find_element(By.CSS_SELECTOR, "#answer .verdict").text


def speaker_labels() -> list[str]:
    with open(os.path.join(EXAMPLES, "speakers", "task.json")) as file:
        return json.load(file)["labels"]


def shot(browser, name: str) -> None:
    browser.save_screenshot(os.path.join(ARTIFACTS, f"{name}.png"))


def severe_console_messages(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_page_loads_without_console_errors(server, browser):
    url, examples = server
    open_page(browser, url)
    tasks = [o.text for o in Select(browser.find_element(By.ID, "task")).options]
    assert len(tasks) == len(os.listdir(examples))
    assert any("(speaker-auth)" in t for t in tasks)
    shot(browser, "page")
    assert severe_console_messages(browser) == []


def run_sample(browser, url: str, task: str, sample: str, target: str = "host") -> str:
    """Run `task` on a held-out sample from the page; the verdict line."""
    open_page(browser, url)
    choose(browser, task, target=target)
    Select(browser.find_element(By.ID, "sample")).select_by_value(sample)
    browser.find_element(By.ID, "run-sample").click()
    return wait_for_result(browser)


def test_image_sample_run(server, browser):
    url, _ = server
    verdict = run_sample(browser, url, "digits", "test/5")
    with np.load(os.path.join(EXAMPLES, "digits", "test.npz")) as data:
        logits = onnx_outputs(os.path.join(EXAMPLES, "digits", "model.onnx"), data["input"][5:6])
    assert verdict == str(int(np.argmax(logits)))
    assert not browser.find_element(By.ID, "emulated").is_displayed()
    shot(browser, "digits-host")
    assert severe_console_messages(browser) == []


def test_audio_sample_run(server, browser):
    url, _ = server
    verdict = run_sample(browser, url, "speakers", "en-us+m7_0.wav")
    signal = read_wav(os.path.join(EXAMPLES, "speakers", "samples", "en-us+m7_0.wav"))
    windows = verification.utterance_windows(signal, 15)
    logits = onnx_outputs(os.path.join(EXAMPLES, "speakers", "model.onnx"), windows)
    assert verdict == speaker_labels()[int(np.argmax(logits.mean(axis=0)))]
    shot(browser, "speakers-host")


def test_speaker_auth_on_arm_is_marked_emulated(server, browser):
    url, _ = server
    verdict = run_sample(browser, url, "auth", "high/3.wav", target="aarch64")  # claims "high"
    assert verdict == "Accepted: high"
    mark = browser.find_element(By.ID, "emulated")
    assert mark.is_displayed() and "emulated (qemu)" in mark.text
    assert "emulated" in browser.find_element(By.ID, "latency").text
    shot(browser, "auth-aarch64")


def test_uploaded_wav(server, browser, tmp_path):
    url, _ = server
    signal = read_wav(os.path.join(EXAMPLES, "speakers", "samples", "en+f3_0.wav"))
    path = tmp_path / "upload.wav"
    path.write_bytes(wav_bytes(resample_poly(signal, 3, 1), 48000))  # 48 kHz
    open_page(browser, url)
    choose(browser, "speakers")
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "run-upload").click()
    assert wait_for_result(browser) == "en+f3"
    shot(browser, "speakers-upload")


def test_uploaded_image_and_a_bad_one(server, browser, tmp_path):
    from PIL import Image

    url, _ = server
    with np.load(os.path.join(EXAMPLES, "digits", "test.npz")) as data:
        pixels = np.round(data["input"][7, 0] * 255).astype(np.uint8)
    path = tmp_path / "digit.png"  # RGB: the page makes it grayscale
    Image.fromarray(np.stack([pixels] * 3, axis=-1), mode="RGB").save(path)
    expected = onnx_outputs(os.path.join(EXAMPLES, "digits", "model.onnx"), pixels[None] / 255.0)
    open_page(browser, url)
    choose(browser, "digits")
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "run-upload").click()
    assert wait_for_result(browser) == str(int(np.argmax(expected)))
    shot(browser, "digits-upload")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    browser.find_element(By.ID, "file").clear()
    browser.find_element(By.ID, "file").send_keys(str(empty))
    browser.find_element(By.ID, "run-upload").click()
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 30).until(lambda b: error.is_displayed())
    assert error.text == "empty.png: the file is empty (0 bytes)"
    shot(browser, "digits-empty-upload")


def test_microphone_recording(server, browser):
    url, _ = server
    open_page(browser, url)
    choose(browser, "speakers")
    record = browser.find_element(By.ID, "record")
    record.click()
    WebDriverWait(browser, 10).until(lambda b: record.text == "Stop and run")
    time.sleep(2.0)
    record.click()
    wait_for_result(browser)
    note = browser.find_element(By.CSS_SELECTOR, "#answer .note").text
    windows = int(re.search(r"over (\d+) windows of microphone.wav", note).group(1))
    assert windows >= 10  # about 2 s of audio arrived, at the rate its header says
    shot(browser, "speakers-microphone")
