// Refreshes a Ward TUF repository with tuf-js (a TUF client not written in
// Go) and downloads one target: proof that the layout is standard TUF.
//
// Usage: node fetch.mjs METADATA_URL ROOT_JSON TARGET_PATH OUT_FILE
// Exit status 0: the target was verified and written to OUT_FILE.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Updater } from 'tuf-js';

const [metadataBaseUrl, rootFile, targetPath, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: node fetch.mjs METADATA_URL ROOT_JSON TARGET_PATH OUT_FILE');
  process.exit(2);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-tuf-js-'));
try {
  const metadataDir = path.join(dir, 'metadata');
  const targetDir = path.join(dir, 'targets');
  fs.mkdirSync(metadataDir);
  fs.mkdirSync(targetDir);
  fs.copyFileSync(rootFile, path.join(metadataDir, 'root.json'));
  const updater = new Updater({
    metadataBaseUrl,
    targetBaseUrl: metadataBaseUrl.replace(/\/?$/, '/targets/'),
    metadataDir,
    targetDir,
    config: { fetchRetries: 0 },
  });
  await updater.refresh();
  const info = await updater.getTargetInfo(targetPath);
  if (!info) {
    throw new Error(`target ${targetPath} not found`);
  }
  await updater.downloadTarget(info, outFile);
  console.log(`tuf-js: ${targetPath} verified (${info.length} bytes)`);
} catch (err) {
  console.error(`tuf-js: ${err.message}`);
  process.exitCode = 1;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
