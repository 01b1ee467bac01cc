#!/usr/bin/env python3
"""Generates flows/*.json (the process templates) so ids, groups and links stay consistent.
One module per template in flows/generator/ (common.py: config nodes, tabs, groups, link pairs).
Edit there or in the editor (then export the tab); run: python3 flows/_generate.py"""
import json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from generator.common import cfg
from generator.quote_to_project import q2p
from generator.time_to_cash import t2c
from generator.change_order import co
from generator.reporting import rep

def write(name, nodes):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(nodes, f, indent=2, ensure_ascii=False)
        f.write("\n")

write("_config.json", cfg())
write("quote-to-project.json", q2p())
write("time-to-cash.json", t2c())
write("change-order-to-billing.json", co())
write("performance-to-reporting.json", rep())
print("ok")
