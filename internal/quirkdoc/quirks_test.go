package quirkdoc

import (
	"bufio"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// modulePath identifies the repository's own go.mod while walking up to it
// (the repository holds other modules too, e.g. interop/).
const modulePath = "github.com/upnpmap/upnpmap"

// cataloguePath is the catalogue, relative to the module root.
const cataloguePath = "docs/QUIRKS.md"

// minRows is the fewest rows the catalogue may have: the research notes
// alone list more than thirty behaviours, so a shorter table lost some.
const minRows = 30

// rootPackage is how the Test column names the module's root package, whose
// import path relative to the module would otherwise be empty.
const rootPackage = "upnpmap"

// columns is the catalogue table's header, which is also how the table is
// found in the document.
var columns = []string{"ID", "Router / source", "Behaviour", "How upnpmap handles it", "Test"}

// Column indexes used by the checks.
const (
	colID   = 0
	colTest = 4
)

var (
	idPattern      = regexp.MustCompile(`^Q[0-9]{2,}$`)
	testPattern    = regexp.MustCompile(`^Test[A-Za-z0-9_]*$`)
	pkgPattern     = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
	separatorCell  = regexp.MustCompile(`^:?-+:?$`)
	unfinishedTags = []string{"PENDING", "MISSING"}
)

// TestCatalogueNamesRealTests: every row of docs/QUIRKS.md names tests that
// exist, as top-level functions in the _test.go files of the package it
// names; and the table is whole (enough rows, no empty cell, IDs unique).
// Rows whose test is PENDING or MISSING are listed as failures too: the
// catalogue promises a test for every row.
func TestCatalogueNamesRealTests(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(cataloguePath)))
	if err != nil {
		t.Fatal(err)
	}
	if problems := check(string(doc), root); len(problems) > 0 {
		t.Errorf("%s: %d problems:\n\t%s", cataloguePath, len(problems), strings.Join(problems, "\n\t"))
	}
}

// TestCheckReportsEveryProblem: the checker itself, on a small tree made
// here, finds each kind of problem in a table that has them all, and none in
// a table that is right.
func TestCheckReportsEveryProblem(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a/a_test.go", `package a

import "testing"

func TestReal(t *testing.T) {}

type s struct{}

func (s) TestMethod(t *testing.T) {}

// func TestCommented(t *testing.T) {}
`)
	writeFile(t, root, "a/a.go", "package a\n\nfunc TestInProduction() {}\n")
	writeFile(t, root, "a/b/b_test.go", "package b\n\nimport \"testing\"\n\nfunc TestDeeper(t *testing.T) {}\n")
	writeFile(t, root, "root_test.go", "package top\n\nimport \"testing\"\n\nfunc TestAtRoot(t *testing.T) {}\n")

	good := "| Q%02d | r | b | h | a.TestReal, upnpmap.TestAtRoot, a/b.TestDeeper |\n"
	t.Run("right", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("intro\n\n" + header())
		for i := 1; i <= minRows; i++ {
			fmt.Fprintf(&b, good, i)
		}
		b.WriteString("\nafter the table | not a row\n")
		if problems := check(b.String(), root); len(problems) != 0 {
			t.Errorf("problems in a right table:\n%s", strings.Join(problems, "\n"))
		}
	})

	t.Run("wrong", func(t *testing.T) {
		doc := header() +
			fmt.Sprintf(good, 1) +
			"| Q01 | r | b | h | a.TestReal |\n" + // duplicate ID
			"| Q03 | r |  | h | a.TestReal |\n" + // empty cell
			"| Q04 | r | b | h | PENDING: a test of it, owner |\n" +
			"| Q05 | r | b | h | MISSING: a test of it |\n" +
			"| Q06 | r | b | h | a.TestNothing |\n" + // no such test
			"| Q07 | r | b | h | nowhere.TestReal |\n" + // no such package
			"| Q08 | r | b | h | a.TestMethod |\n" + // a method, not a test
			"| Q09 | r | b | h | a.TestCommented |\n" + // only in a comment
			"| Q10 | r | b | h | a.TestInProduction |\n" + // not in a _test.go file
			"| Q11 | r | b | h | a.TestDeeper |\n" + // in a subdirectory, another package
			"| X12 | r | b | h | a.TestReal |\n" + // ID not Qnn
			"| Q13 | r | b | h | a.TestReal | extra |\n" + // six cells
			"| Q14 | r | b | h | ../a.TestReal |\n" + // outside the module
			"| Q15 | r | b | h | a.TestReal, |\n" // empty name
		want := []string{
			fmt.Sprintf("%d rows, want at least %d", 15, minRows),
			"Q01 (line 4): ID used before",
			"Q03 (line 5): empty cell",
			"Q04 (line 6): PENDING",
			"Q05 (line 7): MISSING",
			"Q06 (line 8): a.TestNothing: no such test",
			"Q07 (line 9): nowhere.TestReal: ",
			"Q08 (line 10): a.TestMethod: no such test",
			"Q09 (line 11): a.TestCommented: no such test",
			"Q10 (line 12): a.TestInProduction: no such test",
			"Q11 (line 13): a.TestDeeper: no such test",
			"X12 (line 14): ID",
			"Q13 (line 15): 6 cells",
			"Q14 (line 16): \"../a.TestReal\"",
			"Q15 (line 17): empty test name",
		}
		problems := check(doc, root)
		all := strings.Join(problems, "\n")
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("no problem says %q; got:\n%s", w, all)
			}
		}
		if len(problems) != len(want) {
			t.Errorf("%d problems, want %d:\n%s", len(problems), len(want), all)
		}
	})

	t.Run("no table", func(t *testing.T) {
		problems := check("| ID | Router | Behaviour |\n|---|---|---|\n| Q01 | r | b |\n", root)
		if len(problems) != 1 || !strings.Contains(problems[0], "no table") {
			t.Errorf("problems %q, want one saying there is no table", problems)
		}
	})
}

// header is the catalogue table's header and separator lines.
func header() string {
	return "| " + strings.Join(columns, " | ") + " |\n" + strings.Repeat("|---", len(columns)) + "|\n"
}

func writeFile(t *testing.T, root, name, text string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// moduleRoot walks up from the test's directory to the go.mod of modulePath.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(string(b), modulePath) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of %s above the test's directory", modulePath)
		}
		dir = parent
	}
}

// declaresModule says whether the go.mod text gomod is that of module mod.
func declaresModule(gomod, mod string) bool {
	for line := range strings.Lines(gomod) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == mod {
			return true
		}
	}
	return false
}

// row is one line of the catalogue table.
type row struct {
	line  int // 1-based line number in the document
	cells []string
}

// label names a row in problems: its ID (whatever it holds) and line.
func (r row) label() string {
	id := "?"
	if len(r.cells) > colID && r.cells[colID] != "" {
		id = r.cells[colID]
	}
	return fmt.Sprintf("%s (line %d)", id, r.line)
}

// parseTable finds the table whose header is columns and returns its rows:
// the lines after the separator up to the first line that is not a table
// line.
func parseTable(doc string) ([]row, error) {
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(nil, 1<<20) // rows are long lines
	var rows []row
	state := 0 // 0: before the header, 1: header seen, 2: in the rows
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch state {
		case 0:
			if isTableLine(line) && equal(splitRow(line), columns) {
				state = 1
			}
		case 1:
			cells := splitRow(line)
			if !isTableLine(line) || len(cells) != len(columns) || !allMatch(cells, separatorCell) {
				return nil, fmt.Errorf("line %d: the header is not followed by a separator line", n)
			}
			state = 2
		case 2:
			if !isTableLine(line) {
				return rows, nil
			}
			rows = append(rows, row{line: n, cells: splitRow(line)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if state == 0 {
		return nil, fmt.Errorf("no table with the header %q", strings.Join(columns, " | "))
	}
	return rows, nil
}

func isTableLine(line string) bool { return strings.HasPrefix(line, "|") }

// splitRow splits a table line into its trimmed cells; `\|` is a literal
// pipe inside a cell.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = line[:len(line)-1]
	}
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func allMatch(cells []string, re *regexp.Regexp) bool {
	for _, c := range cells {
		if !re.MatchString(c) {
			return false
		}
	}
	return true
}

// testRef is one name of the Test column.
type testRef struct {
	text string // as written
	pkg  string // directory relative to the module root, slash-separated
	name string // the test function
}

// parseTests reads a Test cell: names separated by commas. A cell that
// starts with PENDING or MISSING names no test; it is returned as the
// problem.
func parseTests(cell string) ([]testRef, []string) {
	for _, tag := range unfinishedTags {
		if strings.HasPrefix(cell, tag) {
			return nil, []string{cell}
		}
	}
	var refs []testRef
	var problems []string
	for _, text := range strings.Split(cell, ",") {
		text = strings.Trim(strings.TrimSpace(text), "`")
		if text == "" {
			problems = append(problems, "empty test name")
			continue
		}
		i := strings.LastIndexByte(text, '.')
		if i <= 0 {
			problems = append(problems, fmt.Sprintf("%q: want package.TestName", text))
			continue
		}
		pkg, name := text[:i], text[i+1:]
		if !testPattern.MatchString(name) || !pkgPattern.MatchString(pkg) || path.Clean(pkg) != pkg || strings.HasPrefix(pkg, "..") {
			problems = append(problems, fmt.Sprintf("%q: want package.TestName, package a path inside the module", text))
			continue
		}
		if pkg == rootPackage {
			pkg = "."
		}
		refs = append(refs, testRef{text: text, pkg: pkg, name: name})
	}
	return refs, problems
}

// testFuncs returns the top-level functions named Test… declared in the
// _test.go files of dir (not its subdirectories, which are other packages).
func testFuncs(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, errors.New("no such package directory")
		}
		return nil, errors.New("no _test.go files")
	}
	funcs := make(map[string]bool)
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Test") {
				funcs[fd.Name.Name] = true
			}
		}
	}
	return funcs, nil
}

// check returns every problem of the catalogue doc, for the module at root:
// one line per problem, naming the row.
func check(doc, root string) []string {
	rows, err := parseTable(doc)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if len(rows) < minRows {
		problems = append(problems, fmt.Sprintf("%d rows, want at least %d", len(rows), minRows))
	}
	seen := make(map[string]int) // ID → line of first use
	pkgs := make(map[string]map[string]bool)
	pkgErrs := make(map[string]error)
	for _, r := range rows {
		if len(r.cells) != len(columns) {
			problems = append(problems, fmt.Sprintf("%s: %d cells, want %d", r.label(), len(r.cells), len(columns)))
			continue
		}
		if i := emptyCell(r.cells); i >= 0 {
			problems = append(problems, fmt.Sprintf("%s: empty cell %q", r.label(), columns[i]))
			continue
		}
		id := r.cells[colID]
		if !idPattern.MatchString(id) {
			problems = append(problems, fmt.Sprintf("%s: ID %q, want Q and two or more digits", r.label(), id))
		}
		if first, ok := seen[id]; ok {
			problems = append(problems, fmt.Sprintf("%s: ID used before, on line %d", r.label(), first))
		} else {
			seen[id] = r.line
		}
		refs, bad := parseTests(r.cells[colTest])
		for _, b := range bad {
			problems = append(problems, fmt.Sprintf("%s: %s", r.label(), b))
		}
		for _, ref := range refs {
			funcs, ok := pkgs[ref.pkg]
			if !ok {
				funcs, pkgErrs[ref.pkg] = testFuncs(filepath.Join(root, filepath.FromSlash(ref.pkg)))
				pkgs[ref.pkg] = funcs
			}
			switch {
			case pkgErrs[ref.pkg] != nil:
				problems = append(problems, fmt.Sprintf("%s: %s: package %s: %v", r.label(), ref.text, ref.pkg, pkgErrs[ref.pkg]))
			case !funcs[ref.name]:
				problems = append(problems, fmt.Sprintf("%s: %s: no such test in %s", r.label(), ref.text, ref.pkg))
			}
		}
	}
	return problems
}

// emptyCell is the index of the first empty cell, or -1.
func emptyCell(cells []string) int {
	for i, c := range cells {
		if c == "" {
			return i
		}
	}
	return -1
}
