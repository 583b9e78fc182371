"""Scrapes a Prometheus endpoint and parses it with prometheus_client's own text-format parser (python3-prometheus-client).

Usage: metrics_samples.py URL
Prints one JSON line: {"families": {name: type}, "samples": [{"name", "labels", "value"}]}. A response the parser
rejects fails the script (exit 1, the parser's error on stderr).
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

url = sys.argv[1]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy from the environment
with opener.open(url, timeout=30) as response:
    content_type = response.headers.get("Content-Type", "")
    text = response.read().decode("utf-8")

families = {}
samples = []
for family in text_string_to_metric_families(text):
    families[family.name] = family.type
    for s in family.samples:
        samples.append({"name": s.name, "labels": dict(s.labels), "value": s.value})
print(json.dumps({"content_type": content_type, "families": families, "samples": samples}))
