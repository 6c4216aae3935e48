"""The console in a real browser: headless Chromium drives `/console` of a running gateway.

The gateway is the real one: the simulated Db2 with capture into the test Kafka broker, and
`offload serve` (the projection writer and two serving workers). Skipped, with what is missing
named, where Chromium, its driver or selenium is not installed (`make test` installs them
where it can: scripts/install_browser.sh).

Screenshots are written to each test's directory; the alert test also writes
docs/console.png when OFFLOAD_CONSOLE_SCREENSHOT=1 (how the README's picture is made).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from config import Settings
from query_api.auth import hash_key
from simulators.sor import SystemOfRecord

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[3]
READER = f"reader-{uuid.uuid4().hex}"
ADMIN = f"admin-{uuid.uuid4().hex}"
KEYS = {
    "console-reader": {"role": "reader", "sha256": hash_key(READER)},
    "console-admin": {"role": "admin", "sha256": hash_key(ADMIN)},
}


def _missing() -> list[str]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    return missing


pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        bool(_missing()),
        reason="browser tests need " + ", ".join(_missing()) + " (scripts/install_browser.sh)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(proc: Any) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def _eventually(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout_s} s: {what} (last: {last!r})")


@pytest.fixture
def gateway(
    kafka_broker: Settings,
    settings_factory: Any,
    run_offload: Any,
    start_offload: Callable[..., Any],
) -> Iterator[tuple[Settings, str]]:
    """Capture and `offload serve` (two workers) over a seeded system of record."""
    s = settings_factory({"api.port": _free_port(), "api.keys": KEYS, "api.workers": 2})
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "200", "--seed", "11"))
    _ok(run_offload(s, "reference", "load"))
    start_offload(s, "cdc", "run")
    start_offload(s, "serve")
    # A steady workload while the browser looks: the charts have something to show.
    start_offload(s, "simulate", "--duration", "120", "--tps", "10", "--seed", "12")
    base = f"http://127.0.0.1:{s.api.port}"
    _eventually(lambda: httpx.get(f"{base}/readyz").status_code == 200, 120, "serve is ready")
    yield s, base


def _poison(settings: Settings) -> None:
    """A record no schema decodes, on the orders topic: the writer records it as an error."""
    producer = Producer(settings.kafka.client_config())
    producer.produce(settings.kafka.topic("SHIPPING", "ORDERS"), value=b"garbage", key=b"\0")
    assert producer.flush(30) == 0


def _open_errors(base: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/console/api/errors", headers={"X-API-Key": READER})
    assert answer.status_code == 200, answer.text
    return [e for e in answer.json()["errors"] if e["status"] == "open"]


def _applied(base: str) -> float:
    answer = httpx.get(f"{base}/console/api/history", headers={"X-API-Key": READER})
    assert answer.status_code == 200, answer.text
    return max((p["applied_events_s"] for p in answer.json()["points"]), default=0.0)


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,2400")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _log_in(driver: Any, base: str, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    _eventually(lambda: driver.find_element(By.ID, "main").is_displayed(), 30, "logged in")
    assert key not in driver.current_url


# The page redraws its tables every 3 s: each read below is one script, so it sees one
# drawing (element handles kept across a redraw would go stale).
def _parts(driver: Any) -> dict[str, str]:
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#parts tbody tr')]"
        ".map((r) => [r.dataset.part, r.cells[1].textContent]);"
    )
    return {name: state for name, state in rows}


def _legs(driver: Any) -> list[str]:
    """The compliant column of the legs table, top to bottom."""
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('#legs tbody tr')]"
            ".map((r) => r.cells[8].textContent);"
        )
    )


def _points(driver: Any, chart: str) -> int:
    counts = driver.execute_script(
        f"return [...document.querySelectorAll('#{chart} polyline')]"
        ".map((l) => Number(l.dataset.points));"
    )
    return max(counts, default=0)


def _click(driver: Any, selector: str) -> bool:
    """Click the first element matching `selector`; whether there was one."""
    script = "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;"
    return bool(driver.execute_script(script, selector))


def _replay_in_page(driver: Any, entry_id: int) -> str:
    from selenium.webdriver.common.by import By

    selector = f'#errors tbody tr[data-entry="{entry_id}"] button'
    driver.execute_script("document.getElementById('replay-result').textContent = '';")
    _eventually(lambda: _click(driver, selector), 30, "the entry's replay button")
    return str(
        _eventually(
            lambda: (
                f"entry {entry_id}:" in (t := driver.find_element(By.ID, "replay-result").text)
                and t
            ),
            30,
            "the replay's answer in the page",
        )
    )


def test_console_in_chromium(gateway: tuple[Settings, str], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    settings, base = gateway
    _poison(settings)
    (entry,) = _eventually(lambda: _open_errors(base), 60, "the poison record in the error table")
    driver = _browser()
    try:
        # The key is refused without data; a valid one opens the console.
        driver.get(f"{base}/console")
        driver.find_element(By.ID, "key").send_keys("not-a-key")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        _eventually(lambda: "not valid" in driver.find_element(By.ID, "login-error").text, 20, "")
        _log_in(driver, base, READER)

        # The parts table shows the running parts of `offload serve`.
        running = {"projection": "running", "api-1": "running", "api-2": "running"}
        _eventually(lambda: _parts(driver) == running, 30, "the running parts of offload serve")

        # Charts gain points from the worker's samples (one every 5 s), without a reload;
        # the events applied are the writer's, fetched by the worker that samples them.
        marker = driver.execute_script("return window.performance.timeOrigin")
        _eventually(lambda: _points(driver, "chart-events") >= 2, 40, "points on the chart")
        assert _points(driver, "chart-requests") >= 2
        assert driver.execute_script("return window.performance.timeOrigin") == marker
        _eventually(lambda: _applied(base) > 0, 40, "events applied in the chart's history")

        # Legs, non-compliant first, and a leg's temperature curve against its range.
        flags = _eventually(lambda: _legs(driver), 30, "cold-chain legs listed")
        assert flags == sorted(flags, key=lambda f: f != "NO"), flags
        assert _click(driver, "#legs tbody tr")
        _eventually(lambda: _points(driver, "leg-chart") >= 1, 30, "the leg's temperature curve")
        assert driver.find_elements(By.CSS_SELECTOR, "#leg-chart rect.band")
        if flags[0] == "NO":
            assert driver.find_elements(By.CSS_SELECTOR, "#leg-chart circle.excursion")

        # Schemas with their versions.
        _eventually(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#schemas tbody tr"), 40, "schemas"
        )
        driver.save_screenshot(str(tmp_path / "console.png"))

        # A reader may not replay: the page shows the API's refusal; the entry stays open.
        refused = _replay_in_page(driver, entry["id"])
        assert "refused (403)" in refused, refused
        assert [e["id"] for e in _open_errors(base)] == [entry["id"]]

        driver.find_element(By.ID, "logout").click()
        _log_in(driver, base, ADMIN)
        answer = _replay_in_page(driver, entry["id"])
        # An admin's replay runs in the projection writer, between two batches: the garbage
        # record is decoded again and still fails, so the entry stays open with its reason.
        assert answer.startswith(f"entry {entry['id']}: failed ("), answer
        assert [e["id"] for e in _open_errors(base)] == [entry["id"]]

        driver.save_screenshot(str(tmp_path / "console-replay.png"))
    finally:
        driver.quit()


def _compliant_leg_at_sea(base: str) -> dict[str, Any]:
    page = httpx.get(
        f"{base}/cold-chain/legs",
        params={"compliant": "true", "page_size": 100},
        headers={"X-API-Key": READER},
    )
    assert page.status_code == 200, page.text
    at_sea = [leg for leg in page.json()["items"] if leg["discharged_at"] is None]
    assert at_sea, "the seeded workload has no compliant leg at sea"
    return dict(at_sea[0])


def _hot_reading(settings: Settings, leg: dict[str, Any]) -> int:
    """Commit a reading far above the leg's range on the system of record; its LSN."""
    after = datetime.fromisoformat(leg["last_reading_at"] or leg["loaded_at"])
    row = {"CONTAINER_ID": leg["container_id"], "READING_TS": after + timedelta(seconds=1),
           "TEMPERATURE": Decimal("150.00"), "HUMIDITY": None, "POWER_STATE": "ON",
           "LATITUDE": None, "LONGITUDE": None}  # fmt: skip
    with SystemOfRecord.open(settings.sor_path) as sor, sor.unit_of_work() as unit:
        unit.insert(sor.table("REEFER_TELEMETRY"), [row])
        return int(unit.lsn)


@pytest.mark.skipif(
    importlib.util.find_spec("query_api.routes_stream") is None,
    reason="this tree has no cold-chain alert stream (query_api/routes_stream.py)",
)
def test_an_excursion_appears_as_an_alert_without_a_reload(
    gateway: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = gateway
    driver = _browser()
    try:
        _log_in(driver, base, READER)
        _eventually(lambda: "live: listening" in _note(driver), 30, "the alert stream is open")
        page = driver.execute_script("return window.performance.timeOrigin")
        leg = _compliant_leg_at_sea(base)
        _hot_reading(settings, leg)
        selector = f'#alerts li[data-order="{leg["order_id"]}"][data-kind="non_compliant"]'
        alert = _eventually(
            lambda: driver.execute_script(
                "const e = document.querySelector(arguments[0]); return e && e.textContent;",
                selector,
            ),
            60,
            "the excursion's alert in the page",
        )
        assert leg["container_id"] in alert and "150.00" in alert, alert
        assert driver.execute_script("return window.performance.timeOrigin") == page
        time.sleep(2)  # one alert for one excursion, however often the page refreshes
        count = driver.execute_script(
            "return document.querySelectorAll(arguments[0]).length;", selector
        )
        assert count == 1, count
        # The leg's drill-down: the hot reading marked outside the product's range.
        row = f'#legs tr[data-leg="{leg["order_id"]}|{leg["container_id"]}|{leg["voyage_id"]}"]'
        _eventually(lambda: _click(driver, row), 30, "the alerted leg in the legs table")
        marks = "return document.querySelectorAll('#leg-chart circle.excursion').length;"
        _eventually(lambda: driver.execute_script(marks) >= 1, 30, "the excursion marked")
        _eventually(lambda: _points(driver, "chart-events") >= 2, 40, "points on the charts")
        driver.save_screenshot(str(tmp_path / "console.png"))
        if os.environ.get("OFFLOAD_CONSOLE_SCREENSHOT") == "1":  # the README's picture
            (REPO / "docs").mkdir(exist_ok=True)
            shutil.copyfile(tmp_path / "console.png", REPO / "docs" / "console.png")
    finally:
        driver.quit()


def _note(driver: Any) -> str:
    return str(driver.execute_script("return document.getElementById('alerts-note').textContent;"))
