"""A terminal chat with a persona, over the running Rasa server's REST channel.

Start the servers with ``make run``, then ``make chat`` in another terminal.
Every message carries the REST channel's token (``INTROCOACH_REST_TOKEN``, or
``.secrets/rest_token``, the same settings the servers read).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Sequence

from introcoach.personas import PersonaError, all_personas, find_persona
from introcoach.settings import load_settings


def send(
    url: str,
    sender: str,
    message: str,
    metadata: Optional[Dict[str, Any]] = None,
    token: str = "",
) -> List[Dict[str, Any]]:
    """Send one message (with the REST token) and return the bot's messages."""
    body: Dict[str, Any] = {"sender": sender, "message": message}
    if metadata:
        body["metadata"] = metadata
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
        },
    )
    with urllib.request.urlopen(
        request, timeout=120
    ) as response:  # noqa: S310 - loopback
        return json.loads(response.read().decode() or "[]")


class ChatView:
    """Prints the bot's messages, labelling the persona's lines with their name."""

    def __init__(self) -> None:
        self.persona_name = "Persona"

    def show(self, messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Print the messages; returns the buttons offered by the last one."""
        buttons: List[Dict[str, Any]] = []
        for message in messages:
            custom = message.get("custom") or {}
            if custom.get("type") == "introcoach.persona":
                self.persona_name = custom.get("persona", {}).get(
                    "name", self.persona_name
                )
            text = message.get("text")
            if text:
                if text.startswith("(") or "\n" in text:
                    print(textwrap.indent(text, "  "))
                else:
                    print(f"{self.persona_name}: {text}")
            buttons = message.get("buttons") or buttons
        for number, button in enumerate(buttons, start=1):
            print(f"  [{number}] {button.get('title')}")
        return buttons


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the chat loop until the user types /quit or presses Ctrl-D."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--persona", help="persona id to meet first (default: picked for you)"
    )
    parser.add_argument("--url", help="Rasa server base URL (default from settings)")
    args = parser.parse_args(argv)
    try:
        if args.persona and find_persona(args.persona) is None:
            known = ", ".join(p.id for p in all_personas())
            print(f"unknown persona '{args.persona}' (known: {known})", file=sys.stderr)
            return 2
    except PersonaError as exc:
        print(exc, file=sys.stderr)
        return 2
    settings = load_settings()
    base = args.url or settings.rasa_url
    url = f"{base}/webhooks/rest/webhook"
    sender = f"cli-{uuid.uuid4().hex[:12]}"
    metadata = {"persona_id": args.persona} if args.persona else None
    print("IntroCoach chat. Type 'help' for options, '/quit' to leave.\n")
    view = ChatView()
    buttons: List[Dict[str, Any]] = []
    first = True
    while True:
        try:
            line = input("You: ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line in {"/quit", "/exit"}:
            return 0
        if not line:
            print("  (Type something to say, or /quit.)")
            continue
        if line.isdigit() and buttons and 1 <= int(line) <= len(buttons):
            line = buttons[int(line) - 1].get("payload", line)
        try:
            replies = send(
                url, sender, line, metadata if first else None, settings.rest_token
            )
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                problem = (
                    "The Rasa server refused the REST token: start it with the "
                    "same INTROCOACH_REST_TOKEN (or .secrets/rest_token) as this chat."
                )
            else:
                problem = f"The Rasa server at {base} answered HTTP {exc.code}."
            print(problem, file=sys.stderr)
            return 1
        except (urllib.error.URLError, OSError) as exc:
            print(
                f"Cannot reach the Rasa server at {base} ({exc}). Is `make run` "
                "running?",
                file=sys.stderr,
            )
            return 1
        first = False
        if not replies:
            print("  (No reply: check var/log/rasa.log.)")
        buttons = view.show(replies)


if __name__ == "__main__":
    sys.exit(main())
