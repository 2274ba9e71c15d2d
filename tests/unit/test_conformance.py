"""Conformance to a standard, per line and per lot, in three kinds: evidence-backed, declared by
the biobank, partial (with what is missing in words)."""

import json

from schemas.conformance import checklist, evaluate, line_conformance, standards_met
from schemas.standards import standards
from search.indexer.derived import cell_line_fields
from tests.builders import cell_line

ISCT = standards()["isct-msc-2006"]


def qc(attribute, result="pass", **more):
    return {"attribute": attribute, "method": "lab method", "result": result, **more}


def isct_evidence(**overrides):
    """Results that meet every ISCT criterion; ``overrides`` replace one by its attribute."""
    results = {
        "FUNCTION": qc("FUNCTION", date="2024-01-10"),
        "POS_MARKERS": qc(
            "POS_MARKERS", markers=["CD73", "CD90", "CD105"], value=97.0, unit="% positive"
        ),
        "NEG_MARKERS": qc(
            "NEG_MARKERS",
            markers=["CD45", "CD34", "CD11b", "CD79a", "HLA-DR"],
            value=1.0,
            unit="%",
        ),
        "TRILINEAGE": qc("TRILINEAGE"),
    }
    results.update(overrides)
    return [r for r in results.values() if r is not None]


def msc(results, lots=("L1", "L2"), **fields):
    return cell_line(
        "M1",
        cell_type="MSC",
        qc=results,
        lots=[{"lot_id": lot} for lot in lots],
        **fields,
    )


def test_every_required_attribute_with_passing_latest_evidence_is_evidence_backed():
    verdict = evaluate(msc(isct_evidence()), ISCT)
    assert (verdict.kind, verdict.gaps) == ("evidence_backed", [])
    assert {c.status for c in verdict.checks} == {"met"}


def test_what_is_missing_or_failing_is_said_in_words():
    results = isct_evidence(
        FUNCTION=None,
        POS_MARKERS=qc("POS_MARKERS", markers=["CD73", "CD90", "CD105"], value=91.0, unit="%"),
        TRILINEAGE=qc("TRILINEAGE", "fail", date="2024-03-01"),
    )
    verdict = evaluate(msc(results), ISCT)
    assert verdict.kind == "partial"
    assert verdict.gaps == [
        "Plastic-adherent in standard culture: no FUNCTION result",
        "CD105, CD73 and CD90 on at least 95% of cells: latest result 91 %, needs ≥ 95 %",
        "Differentiation to osteoblasts, adipocytes and chondroblasts in vitro: latest "
        "TRILINEAGE result (2024-03-01) is fail",
    ]


def test_a_result_must_cover_the_markers_either_of_two_alternatives_counts():
    partial_panel = qc("NEG_MARKERS", markers=["CD45", "CD34"], value=0.5, unit="%")
    verdict = evaluate(msc(isct_evidence(NEG_MARKERS=partial_panel)), ISCT)
    [gap] = verdict.gaps
    assert gap.endswith("no NEG_MARKERS result covering CD45, CD34, CD14|CD11b, CD79a|CD19, HLA-DR")


def test_a_value_in_another_unit_or_without_one_does_not_pass_a_rule():
    in_count = qc("POS_MARKERS", markers=["CD73", "CD90", "CD105"], value=97.0, unit="cells")
    no_value = qc("POS_MARKERS", markers=["CD73", "CD90", "CD105"])
    gaps = [evaluate(msc(isct_evidence(POS_MARKERS=r)), ISCT).gaps for r in (in_count, no_value)]
    assert gaps[0][0].endswith("latest result reported in cells, the rule is in %")
    assert gaps[1][0].endswith("latest result no value reported, needs ≥ 95 %")


def test_the_latest_result_decides_and_not_done_is_no_result():
    older_pass = qc("TRILINEAGE", date="2023-01-01")
    newer_fail = qc("TRILINEAGE", "fail", date="2024-01-01")
    skipped = qc("TRILINEAGE", "not_done", date="2025-01-01")
    line = msc(isct_evidence(TRILINEAGE=None) + [newer_fail, older_pass, skipped])
    assert evaluate(line, ISCT).kind == "partial"
    line = msc(isct_evidence(TRILINEAGE=None) + [older_pass, skipped])
    assert evaluate(line, ISCT).kind == "evidence_backed"


def test_a_declaration_with_its_certificate_makes_it_declared_and_keeps_the_gaps():
    declaration = {"standard": "isct-msc-2006", "certificate_number": "CoA-7", "date": "2024-05-01"}
    line = msc(isct_evidence(FUNCTION=None), standards_declared=[declaration])
    verdict = evaluate(line, ISCT)
    assert verdict.kind == "declared"
    assert verdict.gaps == ["Plastic-adherent in standard culture: no FUNCTION result"]
    assert verdict.to_dict()["certificates"] == [
        {"certificate_number": "CoA-7", "date": "2024-05-01"}
    ]


def test_a_lot_is_judged_on_its_own_results_else_on_the_lines_untagged_ones():
    results = isct_evidence() + [
        qc("TRILINEAGE", "fail", lot="L2", date="2024-06-01"),
        qc("NEG_MARKERS", "fail", lot="L3", markers=["CD45"]),  # another lot: never counts
    ]
    line = msc(results, lots=("L1", "L2", "L3"))
    assert evaluate(line, ISCT, "L1").kind == "evidence_backed"  # inherits the line's results
    lot2 = evaluate(line, ISCT, "L2")
    assert lot2.kind == "partial" and lot2.gaps[0].endswith("(2024-06-01) is fail")
    # The line counts every result: its latest trilineage result is L2's failure.
    assert evaluate(line, ISCT).kind == "partial"


def test_a_lot_declaration_covers_that_lot_only_and_the_line_meets_the_standard_through_it():
    declaration = {
        "standard": "isct-msc-2006",
        "certificate_number": "CoA-L2",
        "lot": "L2",
        "date": "2024-05-01",
    }
    line = msc([], standards_declared=[declaration])
    kinds = {lot: evaluate(line, ISCT, lot).kind for lot in (None, "L1", "L2")}
    assert kinds == {None: "partial", "L1": "partial", "L2": "declared"}
    assert standards_met(line) == ["isct-msc-2006"]


def test_only_standards_covering_the_cell_type_apply():
    assert [c.standard.id for c in line_conformance(msc([]))] == ["cscb-hmsc", "isct-msc-2006"]
    ipsc = cell_line("I1")
    assert [c.standard.id for c in line_conformance(ipsc)] == ["cscb-hipsc", "isscr-2023-hpsc"]
    assert line_conformance(cell_line("F1", cell_type="FIBROBLAST")) == []


def test_the_checklist_lists_each_lot_under_its_standard():
    [hmsc, isct] = checklist(msc(isct_evidence()))
    assert isct["kind"] == "evidence_backed"
    assert [(x["lot"], x["kind"]) for x in isct["lots"]] == [
        ("L1", "evidence_backed"),
        ("L2", "evidence_backed"),
    ]
    assert hmsc["kind"] == "partial" and "Viability: no VIABILITY result" in hmsc["gaps"]
    assert {i["status"] for i in isct["checklist"]} == {"met"}


def test_the_search_document_lists_the_standards_met():
    fields = cell_line_fields(msc(isct_evidence()), "n:cell_line:M1", "n", None, None)
    assert fields["standards_met"] == ["isct-msc-2006"]
    assert cell_line_fields(msc([]), "n:cell_line:M1", "n", None, None)["standards_met"] == []


def test_a_lot_backed_on_its_own_evidence_makes_the_line_meet_the_standard():
    results = isct_evidence(TRILINEAGE=None) + [
        qc("TRILINEAGE", lot="L1", date="2024-01-01"),
        qc("TRILINEAGE", "fail", lot="L2", date="2024-06-01"),
    ]
    line = msc(results)
    assert evaluate(line, ISCT).kind == "partial"  # the latest result, L2's, failed
    assert evaluate(line, ISCT, "L1").kind == "evidence_backed"
    assert standards_met(line) == ["isct-msc-2006"]


def test_the_indexers_quick_verdict_agrees_with_the_worded_one_on_every_demo_line():
    from cellfed.config import PROJECT_ROOT
    from schemas.conformance import MET_KINDS, lot_conformance

    for path in sorted((PROJECT_ROOT / "config" / "demo").glob("*.json")):
        for line in json.loads(path.read_text())["cell_lines"]:
            verdicts = line_conformance(line) + lot_conformance(line)
            worded = sorted({c.standard.id for c in verdicts if c.kind in MET_KINDS})
            assert standards_met(line) == worded, line["id"]


def test_a_karyotype_summary_and_a_verified_str_profile_count_as_undated_results():
    isscr = standards()["isscr-2023-hpsc"]
    line = cell_line(
        "I1",
        karyotype={"result": "46,XX", "normal": True},
        str_profile={"loci": {"TH01": "6,9.3"}, "verified": True},
    )
    status = {c.attribute.id: c.status for c in evaluate(line, isscr).checks}
    assert (status["identity"], status["genomic_integrity"]) == ("met", "met")
    later = qc("KARYOTYPE", "abnormal", date="2024-01-01")
    line["qc"] = [later]
    status = {c.attribute.id: c.status for c in evaluate(line, isscr).checks}
    assert status["genomic_integrity"] == "failing"  # a dated result outranks the summary
