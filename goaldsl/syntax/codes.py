"""Every diagnostic code with its one-line meaning.

The place where a code's meaning is written once for tools: SARIF output
describes its rules with these lines. docs/diagnostics.md (and docs/lints.md
for the ``L`` codes) explain each code at length; a test keeps the lists in
step with the documents.
"""
from __future__ import annotations

CODES: dict[str, str] = {
    # reading and parsing
    "E0001": "syntax error",
    "E0002": "a character that cannot start anything, or an unclosed string",
    "E0003": "nesting deeper than the limit",
    "E0004": "a file over the size limit",
    "E0005": "a file holding a NUL character",
    "E0006": "a keyword used as a name",
    "E0007": "a count or duration that is not a whole number",
    "E0008": "a value over its limit",
    "E0009": "an unknown escape in a string",
    "E0010": "a time of day out of range",
    # files and imports
    "E0101": "a file that cannot be read",
    "E0102": "a file that is not valid UTF-8",
    "E0103": "a cycle of imports",
    "E0104": "an import that leaves the program's folder or is refused",
    # declarations
    "E0201": "a name declared twice",
    "E0202": "a bad type in a declaration",
    "E0203": "an event type without a dot",
    "E0204": "an effect declared outside the standard library",
    "E0205": "a malformed effect",
    # conditions
    "E0301": "an unknown segment",
    "E0302": "a segment that refers to itself",
    "E0303": "an unknown event type",
    "E0304": "an unknown field of an event",
    "E0305": "a value outside a field's or parameter's enum",
    "E0307": "a filter, count or window after a segment name",
    "E0308": "contact on its own where a value is expected",
    "E0309": "a bare name where a value is expected",
    "E0310": "trigger.FIELD outside the conditions of a workflow with enroll when",
    "E0311": "trigger.FIELD naming a field the trigger event does not have",
    "E0312": "a segment after `within ... after`, where an event type belongs",
    # workflows and goals
    "E0401": "a setting after the steps",
    "E0402": "a setting or clause given twice",
    "E0403": "both audience and enroll when",
    "E0404": "neither audience nor enroll when",
    "E0405": "an unknown time zone",
    "E0406": "a bad evaluate-every duration",
    "E0407": "allow reentry without enroll when",
    "E0408": "enroll when in a one-time workflow",
    "E0409": "enroll when with something other than plain events",
    "E0410": "an unknown step name for a step field",
    "E0411": "two steps with one name",
    "E0412": "two goals with one name",
    "E0413": "a date-time that does not exist",
    "E0414": "a drip step that is not a send, a wait or a goal step",
    "E0415": "a goal step inside an if",
    "E0416": "skip to a name that is not a top-level step",
    "E0417": "skip to a step that is not later",
    "E0418": "a goal without exactly one when",
    "E0419": "on achieved or on unmet on an exit goal",
    "E0420": "more than one goals section",
    "E0421": "a step after the goals section",
    "E0422": "skip enrollment if goal met without an exit goal",
    "E0423": "exit when audience no longer matches without an audience",
    # actions and types
    "E0501": "an unknown action",
    "E0502": "an unknown argument",
    "E0503": "misplaced or too many positional arguments",
    "E0504": "a required argument is missing",
    "E0505": "an argument given twice",
    "E0506": "a value of the wrong type",
    "W0501": "a contact attribute compared with a value of another kind than the data holds",
    # mapping files (map.toml)
    "E0700": "a mapping file that cannot be read or is not valid TOML",
    "E0701": "a key or value a mapping file does not allow",
    "E0702": "a mapping to an event type or field the program does not declare",
    # tests (*_test.goal files)
    "E0601": "a test block outside a test file",
    "E0602": "two tests with one name",
    "E0603": "something other than a test block in a test file",
    "E0604": "a bad contact in a test",
    "E0605": "a test with no start time",
    "E0606": "a time outside the test's run",
    "E0607": "a test event without a required field",
    "E0608": "an expectation about a contact the test does not have",
    "E0609": "an unknown goal, step or workflow in an expectation",
    "E0610": "an unknown reason to leave a workflow",
    "E0611": "a goal or step in several workflows, not said which",
}
