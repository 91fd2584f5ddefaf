"""A fixed, realistic stream of Segment events for benchmarks (seeded; a generator, so memory stays flat).

    from bench.events import generate
    for event in generate(50_000): ...

    python bench/events.py 50000 > /tmp/events.jsonl     # JSON lines, the same events every time

Mix (by weight): track 50, page 20, identify 15, group 7, screen 4, alias 2, unknown-type 2 — roughly what a
B2B SaaS source sends. Each event carries a full analytics.js-style context (page, campaign, userAgent,
library, locale, timezone, screen, device/os for mobile), identify traits of ~12 keys with a nested address,
track properties of ~8–14 keys (numbers, booleans, nested products), group traits of ~8 keys; about 1 event
in 10 is anonymous (no userId) and 1 in 20 lacks an email. Size: 0.7–1.7 kB of JSON, 1.13 kB on average.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from typing import Any

SEED = 8

_TYPES = ["track"] * 50 + ["page"] * 20 + ["identify"] * 15 + ["group"] * 7 + ["screen"] * 4 + ["alias"] * 2 + ["other"] * 2
_EVENTS = ["Order Completed", "Product Viewed", "Product Added", "Signed Up", "Trial Started", "Report Exported",
           "Dashboard Viewed", "Invite Sent", "Feature Used", "Subscription Upgraded", "Checkout Started",
           "Search Performed", "File Uploaded", "Comment Added", "Integration Connected"]
_PAGES = [("/", "Home"), ("/pricing", "Pricing"), ("/docs/getting-started", "Getting started"),
          ("/blog/how-we-scaled", "How we scaled"), ("/app/dashboard", "Dashboard"), ("/app/settings/billing", "Billing"),
          ("/signup", "Sign up"), ("/features/analytics", "Analytics")]
_UAS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"]
_TZS = ["Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Europe/London", "Australia/Sydney", "UTC"]
_LOCALES = ["en-US", "de-DE", "fr-FR", "ja-JP", "en-GB", "pt-BR"]
_FIRST = ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Dennis", "Frances", "Ken", "Radia"]
_LAST = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Liskov", "Ritchie", "Allen", "Thompson", "Perlman"]
_COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Tyrell"]
_INDUSTRIES = ["Software", "Retail", "Finance", "Healthcare", "Education", "Manufacturing"]
_PLANS = ["free", "starter", "pro", "enterprise"]
_SOURCES = ["google", "newsletter", "twitter", "linkedin", "partner"]
_CITIES = [("Berlin", "DE"), ("New York", "US"), ("San Francisco", "US"), ("Tokyo", "JP"), ("London", "GB"), ("São Paulo", "BR")]


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _ts(rng: random.Random) -> str:
    day, sec, ms = rng.randrange(1, 29), rng.randrange(86400), rng.randrange(1000)
    return f"2024-02-{day:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{ms:03d}Z"


def _person(rng: random.Random, uid: int) -> dict[str, Any]:
    first, last = _FIRST[uid % 10], _LAST[uid // 10 % 10]
    city, country = _CITIES[uid % len(_CITIES)]
    traits: dict[str, Any] = {
        "email": f"{first.lower()}.{last.lower()}{uid}@example.com", "firstName": first, "lastName": last,
        "name": f"{first} {last}", "title": rng.choice(["Engineer", "Product Manager", "CTO", "Designer", "Analyst"]),
        "phone": f"+1-555-{uid % 10000:04d}", "plan": rng.choice(_PLANS), "logins": rng.randrange(1, 500),
        "createdAt": _ts(rng), "company": {"id": f"grp-{uid % 997}", "name": _COMPANIES[uid % len(_COMPANIES)]},
        "address": {"city": city, "country": country, "postalCode": f"{rng.randrange(10000, 99999)}"},
        "newsletter": rng.random() < 0.4,
    }
    if rng.random() < 0.05:
        del traits["email"]
    return traits


def _context(rng: random.Random, path: str, title: str, traits: dict[str, Any] | None) -> dict[str, Any]:
    ua = rng.choice(_UAS)
    query = f"?utm_source={rng.choice(_SOURCES)}&utm_medium=cpc" if rng.random() < 0.3 else ""
    ctx: dict[str, Any] = {
        "ip": f"203.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "locale": rng.choice(_LOCALES), "timezone": rng.choice(_TZS), "userAgent": ua,
        "library": {"name": "analytics.js", "version": "next-1.64.0"},
        "page": {"path": path, "referrer": rng.choice(["", "https://www.google.com/", "https://news.ycombinator.com/"]),
                 "search": query, "title": title, "url": f"https://www.example.com{path}{query}"},
        "screen": {"width": rng.choice([1920, 1440, 390, 2560]), "height": rng.choice([1080, 900, 844, 1440]), "density": 2},
    }
    if query:
        ctx["campaign"] = {"source": query.split("=")[1].split("&")[0], "medium": "cpc", "name": "spring-launch"}
    if "iPhone" in ua:
        ctx["device"] = {"id": _uuid(rng), "manufacturer": "Apple", "model": "iPhone15,2", "type": "ios"}
        ctx["os"] = {"name": "iOS", "version": "17.2"}
    if traits is not None and rng.random() < 0.3:
        ctx["traits"] = {k: traits[k] for k in ("email", "name") if k in traits}
    return ctx


def _properties(rng: random.Random, event: str) -> dict[str, Any]:
    props: dict[str, Any] = {"plan": rng.choice(_PLANS), "source": rng.choice(_SOURCES),
                             "duration_ms": rng.randrange(10, 90000), "experiment": rng.random() < 0.5,
                             "feature": rng.choice(["reports", "exports", "alerts", "sso", "api"])}
    if event in ("Order Completed", "Checkout Started", "Product Added", "Product Viewed", "Subscription Upgraded"):
        n = rng.randrange(1, 4)
        props.update({"order_id": _hex(rng, 12), "revenue": round(rng.uniform(5, 900), 2), "currency": "USD",
                      "coupon": rng.choice([None, "SPRING24", "WELCOME"]),
                      "products": [{"product_id": _hex(rng, 8), "sku": f"SKU-{rng.randrange(1000, 9999)}",
                                    "name": rng.choice(["Seat", "Add-on", "Support", "Storage"]),
                                    "price": round(rng.uniform(5, 300), 2), "quantity": rng.randrange(1, 5)}
                                   for _ in range(n)]})
    else:
        props.update({"count": rng.randrange(0, 100), "label": f"item-{rng.randrange(1000)}",
                      "tags": rng.sample(["a", "b", "beta", "internal", "mobile", "admin"], 2)})
    return props


def generate(n: int, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """`n` events, the same for the same seed; built one at a time."""
    rng = random.Random(seed)
    for _ in range(n):
        kind = rng.choice(_TYPES)
        uid = rng.randrange(5000)
        anonymous = rng.random() < 0.1
        traits = _person(rng, uid)
        path, title = rng.choice(_PAGES)
        event: dict[str, Any] = {
            "type": kind if kind != "other" else "screen_view",
            "messageId": _uuid(rng), "anonymousId": _uuid(rng),
            "timestamp": _ts(rng), "sentAt": _ts(rng), "receivedAt": _ts(rng), "originalTimestamp": _ts(rng),
            "context": _context(rng, path, title, None if anonymous else traits),
            "integrations": {}, "version": 2, "channel": "client" if kind != "alias" else "server",
        }
        if not anonymous:
            event["userId"] = f"user-{uid}"
        if kind == "track":
            name = rng.choice(_EVENTS)
            event["event"], event["properties"] = name, _properties(rng, name)
        elif kind == "page":
            event["name"] = title
            event["properties"] = {"path": path, "title": title, "url": f"https://www.example.com{path}",
                                   "referrer": event["context"]["page"]["referrer"], "search": ""}
        elif kind == "screen":
            event["name"] = rng.choice(["Home", "Settings", "Checkout"])
            event["properties"] = {"variation": rng.choice(["a", "b"]), "duration_ms": rng.randrange(100, 60000)}
        elif kind == "identify":
            event["traits"] = traits
        elif kind == "group":
            gid = uid % 997
            event["groupId"] = f"grp-{gid}"
            event["traits"] = {"name": _COMPANIES[gid % len(_COMPANIES)], "industry": rng.choice(_INDUSTRIES),
                               "employees": rng.randrange(5, 20000), "plan": rng.choice(_PLANS),
                               "website": f"https://www.{_COMPANIES[gid % len(_COMPANIES)].lower().replace(' ', '')}.com",
                               "createdAt": _ts(rng), "mrr": round(rng.uniform(0, 50000), 2),
                               "address": {"city": _CITIES[gid % 6][0], "country": _CITIES[gid % 6][1]}}
        elif kind == "alias":
            event["previousId"] = event["anonymousId"]
        yield event


def write_jsonl(path: str, n: int, seed: int = SEED) -> None:
    import orjson

    with open(path, "wb") as f:
        for event in generate(n, seed):
            f.write(orjson.dumps(event) + b"\n")


if __name__ == "__main__":
    import orjson

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    out = sys.stdout.buffer
    for ev in generate(count):
        out.write(orjson.dumps(ev) + b"\n")
