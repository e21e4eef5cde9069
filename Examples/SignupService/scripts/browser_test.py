#!/usr/bin/env python3
"""The real-browser test of the sign-up service.

Starts `signup-demo` (the service against mock DNS and SMTP servers on loopback), drives a
headless Chromium through chromedriver's WebDriver HTTP API (the W3C protocol, spoken
here with the standard library alone), and checks what a person sees:

- accepted address -> "We sent you a code" -> the code from the mock inbox -> verified;
- rejected address -> why, and the form to correct the address;
- deferred address -> the "in due course" page.

It saves a screenshot of each result page in the output directory. Everything stays on
127.0.0.1. Usage: browser_test.py DEMO_BINARY OUTPUT_DIR
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url, deadline):
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in time")


class WebDriver:
    """The few W3C WebDriver commands the test needs."""

    def __init__(self, base):
        self.base = base
        capabilities = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": shutil.which("chromium") or "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--window-size=900,700",
                            "--no-first-run", "--no-default-browser-check",
                            "--disable-background-networking", "--disable-sync",
                            "--disable-component-update", "--disable-domain-reliability",
                            "--no-proxy-server",
                        ],
                    },
                }
            }
        }
        self.session = self.call("POST", "/session", capabilities)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode())["value"]

    def session_call(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.session_call("POST", "/url", {"url": url})

    def find(self, css):
        element = self.session_call(
            "POST", "/element", {"using": "css selector", "value": css})
        return next(iter(element.values()))

    def type(self, css, text):
        element = self.find(css)
        self.session_call("POST", f"/element/{element}/clear", {})
        self.session_call("POST", f"/element/{element}/value", {"text": text})

    def click(self, css):
        self.session_call("POST", f"/element/{self.find(css)}/click", {})

    def submit(self, css):
        """Clicks a submit button and waits (bounded) until the next page has replaced this
        one: a click need not wait for the navigation it starts, and reading the page in
        between finds the old document or an element that has just gone stale."""
        old_page = self.find("html")
        self.click(css)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.find("html") != old_page:
                    return
            except urllib.error.HTTPError:
                pass  # between documents
            time.sleep(0.05)
        raise RuntimeError(f"clicking {css} did not load a new page within 10 s")

    def text(self, css):
        return self.session_call("GET", f"/element/{self.find(css)}/text")

    def attribute(self, css, name):
        return self.session_call("GET", f"/element/{self.find(css)}/attribute/{name}")

    def title(self):
        return self.session_call("GET", "/title")

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.session_call("GET", "/screenshot")))

    def quit(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        except Exception:
            pass


def main():
    demo, output = sys.argv[1], sys.argv[2]
    os.makedirs(output, exist_ok=True)
    app_port, driver_port = free_port(), free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    processes = []
    failures = []
    checks = []

    def check(condition, what):
        print(("ok   " if condition else "FAIL ") + what, flush=True)
        checks.append(what)
        if not condition:
            failures.append(what)

    try:
        env = dict(os.environ, SIGNUP_PORT=str(app_port), SIGNUP_HOST="127.0.0.1")
        processes.append(subprocess.Popen([demo], env=env))
        driver_bin = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        processes.append(subprocess.Popen(
            [driver_bin, f"--port={driver_port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 60
        wait_for_http(app_url + "/healthz", deadline)
        wait_for_http(f"http://127.0.0.1:{driver_port}/status", deadline)
        browser = None
        try:
            browser = WebDriver(f"http://127.0.0.1:{driver_port}")
            # Accepted: the code is sent, read from the mock inbox, entered, verified.
            browser.go(app_url + "/")
            browser.type("#email", "jane@example.test")
            browser.submit("#signup-button")
            check(browser.title() == "We sent you a code", "accepted: title 'We sent you a code'")
            check("We sent you a code" in browser.text("#outcome"), "accepted: page says a code was sent")
            browser.screenshot(os.path.join(output, "1-accepted.png"))
            code = wait_for_http(
                app_url + "/_mock/code?email=" + urllib.parse.quote("jane@example.test"),
                time.time() + 5).strip()
            check(len(code) == 6 and code.isdigit(), f"accepted: the mock inbox has a 6-digit code ({code})")
            browser.type("#code", code)
            browser.submit("#verify-button")
            check(browser.attribute("#outcome", "data-outcome") == "verified", "verified: outcome 'verified'")
            check("your sign-up is complete" in browser.text("#outcome"), "verified: page says the sign-up is complete")
            browser.screenshot(os.path.join(output, "2-verified.png"))

            # Rejected: why, in plain words, and the form to correct the address.
            browser.go(app_url + "/")
            browser.type("#email", "nobody@example.test")
            browser.submit("#signup-button")
            text = browser.text("#outcome")
            check("there is no mailbox nobody@example.test" in text, "rejected: page says why")
            check("Nothing will be sent" in text, "rejected: page says nothing will be sent")
            check(browser.attribute("#email", "value") == "nobody@example.test", "rejected: the form keeps the address to correct")
            browser.screenshot(os.path.join(output, "3-rejected.png"))

            # Deferred (DNS down): queued, the code will arrive in due course.
            browser.go(app_url + "/")
            browser.type("#email", "jane@dns-down.test")
            browser.submit("#signup-button")
            body = browser.text("body")
            check(browser.title() == "Your code is on its way", "deferred: title 'Your code is on its way'")
            check("We could not verify the address, but if it is a live address the code will arrive in due course"
                  in body, "deferred: page says the code will arrive in due course")
            browser.screenshot(os.path.join(output, "4-deferred.png"))
        finally:
            if browser is not None:
                browser.quit()
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    passed = len(checks) - len(failures)
    if not checks:
        failures.append("no check ran")
    print(f"browser: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
