// Runs valgrind's DHAT viewer (`dh_view.js`, browser code) under node on a DHAT JSON file, as the
// viewer's "Load…" button would: `onLoad()` builds the page, `loadFile()` reads the file, checks
// its fields and builds the tree (`buildTree`), then draws it (`displayTree`). A minimal DOM
// stands in for the browser's. Any error the viewer raises ends this with a non-zero status.
//
// Usage: node dh_view_harness.js /usr/libexec/valgrind/dh_view.js dhat.json
// Prints lines `times tg=… te=…`, `root tb=… tbk=… tl=… mb=… mbk=… gb=… gbk=… eb=… ebk=…` (the
// tree's root), `kid <the same figures> <first frame>` for each node below the root, then `page:`
// and the page's text as the viewer drew it.

"use strict";
const fs = require("fs");
const vm = require("vm");

const [viewerPath, dataPath] = process.argv.slice(2);

class Node {
  constructor(tag) {
    this.tagName = tag;
    this.childNodes = [];
    this.parentNode = null;
    this.className = "";
    this.style = {};
    this._text = "";
    const classes = new Set();
    this.classList = {
      contains: (c) => classes.has(c),
      add: (c) => classes.add(c),
      remove: (c) => classes.delete(c),
      toggle: (c) => (classes.has(c) ? classes.delete(c) : classes.add(c)),
    };
  }
  appendChild(c) {
    c.parentNode = this;
    this.childNodes.push(c);
    return c;
  }
  replaceChild(n, old) {
    const i = this.childNodes.indexOf(old);
    if (i < 0) throw new Error("replaceChild: not a child");
    this.childNodes[i] = n;
    n.parentNode = this;
    old.parentNode = null;
    return old;
  }
  cloneNode(deep) {
    if (deep) throw new Error("deep clone not stubbed");
    const n = new Node(this.tagName);
    n.className = this.className;
    return n;
  }
  get textContent() {
    return this._text + this.childNodes.map((c) => c.textContent).join("");
  }
  set textContent(t) {
    this._text = String(t);
    this.childNodes = [];
  }
  // <select>: the index of the selected <option>.
  get selectedIndex() {
    const i = this.childNodes.findIndex((o) => o.selected);
    return i < 0 ? 0 : i;
  }
}

const body = new Node("body");
const document = {
  title: "",
  body,
  location: { search: "" },
  createElement: (tag) => new Node(tag),
  createTextNode: (text) => {
    const n = new Node("#text");
    n._text = String(text);
    return n;
  },
};

// The file the "Load…" button would pick, read when the viewer asks for it.
class FileReader {
  readAsText(file) {
    const result = fs.readFileSync(file.path, "utf8");
    this.onload({ target: { result } });
  }
}

const context = vm.createContext({
  document,
  FileReader,
  performance,
  Intl,
  URLSearchParams,
  console,
});
vm.runInContext(fs.readFileSync(viewerPath, "utf8"), context, { filename: viewerPath });
vm.runInContext(
  `onLoad();
   gInput.files = [{ name: ${JSON.stringify(dataPath.split("/").pop())},
                     path: ${JSON.stringify(dataPath)} }];
   loadFile();`,
  context,
);
const result = vm.runInContext(
  `(() => {
     const figures = (t) =>
       \`tb=\${t._totalBytes} tbk=\${t._totalBlocks} tl=\${t._totalLifetimes} \` +
       \`mb=\${t._maxBytes} mbk=\${t._maxBlocks} \` +
       \`gb=\${t._atTGmaxBytes} gbk=\${t._atTGmaxBlocks} \` +
       \`eb=\${t._atTEndBytes} ebk=\${t._atTEndBlocks}\`;
     let lines = [\`times tg=\${gData.tg} te=\${gData.te}\`, \`root \${figures(gRoot)}\`];
     for (const kid of gRoot._kids || []) {
       lines.push(\`kid \${figures(kid)} \${gData.ftbl[kid._frames[0]]}\`);
     }
     lines.push("page:", gMainDiv.textContent);
     return lines.join("\\n");
   })()`,
  context,
);
if (/error/i.test(gMainDivText(result))) {
  console.error(result);
  process.exit(2);
}
process.stdout.write(result + "\n");

function gMainDivText(out) {
  return out.slice(out.indexOf("\npage:\n"));
}
