// Project rules that the type checker cannot see. Prints each finding and exits 1 if any.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const rules = [
  { dirs: ['test', 'e2e'], pattern: /\b(it|test|describe)\.(only|skip)\(/, message: 'focused or skipped test' },
  { dirs: ['src'], pattern: /\breply\.view\(/, message: 'use reply.viewAsync / reply.render, not reply.view' },
  { dirs: ['src'], pattern: /\brequest\.body as (?!Record\b)[A-Z]\w*/, message: 'unvalidated request.body cast: validate with a schema or parseForm' },
  { dirs: ['src'], pattern: /\bdebugger\b/, message: 'debugger statement' },
  { dirs: ['views'], pattern: /<%~\s*it\.(?!body\b)[\w.]+\s*%>/, message: 'raw output of data in a template: use <%= %> (escaped)' },
  { dirs: ['src', 'views'], pattern: /not implemented|coming soon|lorem ipsum|TODO: implement/i, message: 'stub text' },
];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (/\.(ts|mjs|js|eta)$/.test(name)) yield path;
  }
}

let findings = 0;
for (const rule of rules) {
  for (const dir of rule.dirs) {
    for (const file of files(dir)) {
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (rule.pattern.test(line)) {
          findings++;
          console.log(`${file}:${i + 1}: ${rule.message}`);
        }
      });
    }
  }
}
// a clean clone must run every script: no committed symlinks, no links out of the repository
for (const line of execFileSync('git', ['ls-files', '-s'], { encoding: 'utf8' }).split('\n')) {
  if (line.startsWith('120000 ')) {
    findings++;
    console.log(`${line.split('\t')[1]}: committed symlink`);
  }
}
readFileSync('README.md', 'utf8').split('\n').forEach((line, i) => {
  if (/\]\(\.\.\//.test(line)) {
    findings++;
    console.log(`README.md:${i + 1}: link to a file outside the repository`);
  }
});
if (findings) {
  console.log(`${findings} lint finding(s)`);
  process.exit(1);
}
console.log('lint: clean');
