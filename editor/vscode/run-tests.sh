#!/usr/bin/env bash
# Grammar tests for the VS Code extension: every tests/*.test.goal file is an
# annotated sample checked with vscode-tmgrammar-test against
# syntaxes/goal.tmLanguage.json; then the extension is packaged into a
# .vsix (in a temporary folder) with @vscode/vsce. Exits non-zero when an
# assertion fails or the extension does not package.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d node_modules ]; then
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
fi

# The grammar must be valid JSON with the right scope name before anything else.
node -e '
const g = require("./syntaxes/goal.tmLanguage.json");
if (g.scopeName !== "source.goal") { console.error("scopeName is " + g.scopeName); process.exit(1); }
for (const f of ["./package.json", "./language-configuration.json", "./snippets/goal.json"]) require(f);
'

npx --no-install vscode-tmgrammar-test --grammar syntaxes/goal.tmLanguage.json "tests/**/*.test.goal"

# The extension must package into a .vsix with @vscode/vsce, holding the
# client, the grammar, the snippets, the language configuration and the
# language client library, and none of the tests.
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx --no-install vsce ls > "$out/files.txt"
for f in package.json extension.js language-configuration.json syntaxes/goal.tmLanguage.json snippets/goal.json \
         README.md LICENSE node_modules/vscode-languageclient/package.json; do
    grep -qx "$f" "$out/files.txt" || { echo "the .vsix would miss $f" >&2; exit 1; }
done
if grep -q '^tests/' "$out/files.txt"; then echo "the .vsix would hold the grammar tests" >&2; exit 1; fi
npx --no-install vsce package --allow-missing-repository --out "$out/goal-lang.vsix" > "$out/vsce.log" 2>&1 \
    || { cat "$out/vsce.log" >&2; exit 1; }
test -s "$out/goal-lang.vsix"
echo "✓ packaged goal-lang.vsix ($(wc -c < "$out/goal-lang.vsix") bytes, $(wc -l < "$out/files.txt") files)"
