#!/usr/bin/env bash
# Grammar tests for the VS Code extension: every tests/*.test.goal file is an
# annotated sample checked with vscode-tmgrammar-test against
# syntaxes/goal.tmLanguage.json. Exits non-zero when an assertion fails.
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
