"""tginit.py - Telegram Mini App launch URLs signed as Telegram signs them
(first-party: HMAC-SHA256 with the bot token), for the mini app's browser tests.
Only the hash is real: `signature` (Telegram's Ed25519 over the same fields)
is a placeholder, as the core checks init data first-party with the bot token."""
import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse

# fitgate-core in dev mode without FITGATE_BOT_TOKEN signs with this token.
DEV_BOT_TOKEN = "1000000001:DEV-local-bot-token-not-for-production"

THEME = {"bg_color": "#1c1c1d", "text_color": "#ffffff", "hint_color": "#98989e",
         "link_color": "#3e88f7", "button_color": "#3e88f7", "button_text_color": "#ffffff",
         "secondary_bg_color": "#2c2c2e", "section_bg_color": "#232325",
         "destructive_text_color": "#ff6b6b"}


def bot_token():
    return os.environ.get("FITGATE_BOT_TOKEN", DEV_BOT_TOKEN)


def init_data(user, token=None, auth_date=None, extra=None):
    fields = {"auth_date": str(int(auth_date or time.time())),
              "query_id": "AAH" + base64.urlsafe_b64encode(os.urandom(9)).decode().rstrip("="),
              "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
              "signature": base64.urlsafe_b64encode(os.urandom(64)).decode().rstrip("=")}
    fields.update(extra or {})
    dcs = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hmac.new(b"WebAppData", (token or bot_token()).encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, dcs.encode(), hashlib.sha256).hexdigest()
    return urllib.parse.urlencode(fields, quote_via=urllib.parse.quote)


def launch_url(base, user, platform="ios", theme=None, token=None):
    """The URL Telegram opens: launch parameters in the hash."""
    lp = {"tgWebAppData": init_data(user, token), "tgWebAppVersion": "8.0",
          "tgWebAppPlatform": platform,
          "tgWebAppThemeParams": json.dumps(theme or THEME, separators=(",", ":"))}
    return f"{base}/#" + urllib.parse.urlencode(lp, quote_via=urllib.parse.quote)
