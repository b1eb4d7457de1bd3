// VS Code client for the goal language server.
//
// Plain JavaScript, no build step. Starts `goal lsp` (the executable is the
// `goal.serverPath` setting) and talks to it over stdio.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client = null;
let output = null;

function serverCommand() {
  const config = vscode.workspace.getConfiguration('goal');
  const command = (config.get('serverPath') || '').trim();
  const args = config.get('serverArgs') || ['lsp'];
  return { command, args };
}

async function startClient(context) {
  const { command, args } = serverCommand();
  if (!command) {
    output.appendLine('goal.serverPath is empty: the language server is off.');
    return;
  }
  const executable = { command, args, transport: TransportKind.stdio };
  const serverOptions = { run: executable, debug: executable };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'goal' },
      { scheme: 'untitled', language: 'goal' }
    ],
    // The server asks to watch *.goal and contacts.jsonl itself (dynamic
    // registration), so there is no `synchronize.fileEvents` here.
    outputChannel: output
  };
  client = new LanguageClient('goal', 'Goal Language Server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    const message = `Could not start the goal language server ("${command} ${args.join(' ')}"): ${err && err.message ? err.message : err}. ` +
      'Install goal (pip install . in its repository; the language server comes with it) or set goal.serverPath to its goal command.';
    output.appendLine(message);
    vscode.window.showWarningMessage(message);
    client = null;
  }
}

async function stopClient() {
  if (!client) {
    return;
  }
  const running = client;
  client = null;
  try {
    await running.stop();
  } catch (err) {
    output.appendLine(`Error stopping the goal language server: ${err && err.message ? err.message : err}`);
  }
}

async function activate(context) {
  output = vscode.window.createOutputChannel('Goal Language Server');
  context.subscriptions.push(output);

  context.subscriptions.push(
    vscode.commands.registerCommand('goal.restartServer', async () => {
      await stopClient();
      await startClient(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('goal.serverPath') || event.affectsConfiguration('goal.serverArgs')) {
        await stopClient();
        await startClient(context);
      }
    })
  );

  await startClient(context);
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
