"""Diagnostics in ``*.mlf.json`` configurations point at the value, not 1:1 (review item 5)."""

from __future__ import annotations

from tests.fixtures.project import Project, parse_diagnostics

CONFIG = '''{
  "variable": {
    "env": { "default": "staging" }
  },
  "model": {
    "m": {
      "source": "./m.onnx",
      "format": "tensorflw"
    }
  },
  "prompt": {
    "p": {
      "template": "Env: ${var.evn}",
      "variables": []
    }
  },
  "output": {
    "o": { "value": "${model.m.nope}" }
  }
}
'''


def test_json_config_diagnostics_point_at_the_value(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.json", CONFIG)
    tmp_project.write("m.onnx", "weights")
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    where = {d.summary: d for d in parse_diagnostics(r.output)}
    assert "Traceback" not in r.output
    undeclared = where["Reference to undeclared input variable"]
    assert undeclared.location == "main.mlf.json:13:27", r  # var.evn inside the template
    assert undeclared.source_line == '      "template": "Env: ${var.evn}",'
    assert undeclared.caret is not None and undeclared.caret.strip() == "^" * len("var.evn")
    assert where["Unsupported attribute"].location == "main.mlf.json:18:24", r


def test_a_provider_error_in_json_points_at_the_attribute(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.json", '{\n  "model": {\n    "m": {\n      "source": "./m.onnx",\n'
                                       '      "format": "tensorflw"\n    }\n  }\n}\n')
    tmp_project.write("m.onnx", "weights")
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    (d,) = [x for x in parse_diagnostics(r.output) if x.severity == "Error"]
    assert d.summary == "Unsupported model format"
    assert d.location == "main.mlf.json:5:17", r


def test_an_unknown_attribute_in_json_points_at_its_key(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.json", '{\n  "model": {\n    "m": {\n      "source": "./m.onnx",\n'
                                       '      "fromat": "onnx"\n    }\n  }\n}\n')
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    (d,) = [x for x in parse_diagnostics(r.output) if x.severity == "Error"]
    assert d.location == "main.mlf.json:5:7", r
