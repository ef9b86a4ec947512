package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/engine"
	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"github.com/apache/thrift/lib/go/thrift"
)

// The original fae/faed's callers: testdata/original/fun.thrift is its wire
// interface (written by us from SPEC.md §1), idl/fun.thrift must keep it,
// and PHP written the original's way must get the answers it got.

// originalIDL is the original's wire interface.
const originalIDL = "testdata/original/fun.thrift"

// thriftCompiler is the probe for the Thrift compiler these tests run.
var thriftCompiler = scriptClient{probe: []string{"thrift", "--version"}, install: "thrift-compiler"}

// idlType is a type as `thrift --gen json` describes it: typeId, and for a
// struct its class, for a container its element, key and value types.
type idlType struct {
	TypeID      string   `json:"typeId"`
	Class       string   `json:"class"`
	ElemTypeID  string   `json:"elemTypeId"`
	ElemType    *idlType `json:"elemType"`
	KeyTypeID   string   `json:"keyTypeId"`
	KeyType     *idlType `json:"keyType"`
	ValueTypeID string   `json:"valueTypeId"`
	ValueType   *idlType `json:"valueType"`
}

// typeName spells a type the way an IDL does: i64, list<list<string>>,
// struct Context.
func typeName(id string, t *idlType) string {
	if t == nil {
		return id
	}
	switch t.TypeID {
	case "list", "set":
		return t.TypeID + "<" + typeName(t.ElemTypeID, t.ElemType) + ">"
	case "map":
		return "map<" + typeName(t.KeyTypeID, t.KeyType) + "," + typeName(t.ValueTypeID, t.ValueType) + ">"
	case "struct", "exception", "union", "enum":
		return t.TypeID + " " + t.Class
	}
	return t.TypeID
}

// idlField is a struct field, an argument or a declared exception.
// Required is "required", "optional" or "req_out" (no marker).
type idlField struct {
	Key      int      `json:"key"`
	Name     string   `json:"name"`
	TypeID   string   `json:"typeId"`
	Type     *idlType `json:"type"`
	Required string   `json:"required"`
}

func (f idlField) String() string {
	marker := map[string]string{"required": "required ", "optional": "optional ", "req_out": ""}[f.Required]
	return fmt.Sprintf("%d: %s%s %s", f.Key, marker, typeName(f.TypeID, f.Type), f.Name)
}

type idlFunction struct {
	Name         string     `json:"name"`
	ReturnTypeID string     `json:"returnTypeId"`
	ReturnType   *idlType   `json:"returnType"`
	Oneway       bool       `json:"oneway"`
	Arguments    []idlField `json:"arguments"`
	Exceptions   []idlField `json:"exceptions"`
}

type idlStruct struct {
	Name   string     `json:"name"`
	Fields []idlField `json:"fields"`
}

type idlService struct {
	Name      string        `json:"name"`
	Functions []idlFunction `json:"functions"`
}

type idlDoc struct {
	Structs  []idlStruct  `json:"structs"`
	Services []idlService `json:"services"`
}

// compileJSON runs `thrift --gen json` on idl in a temporary directory.
func compileJSON(t *testing.T, idl string) idlDoc {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("thrift", "--gen", "json", "-out", dir, idl).CombinedOutput(); err != nil {
		t.Fatalf("thrift --gen json %s: %v\n%s", idl, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, strings.TrimSuffix(filepath.Base(idl), ".thrift")+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc idlDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("thrift --gen json %s: %v", idl, err)
	}
	return doc
}

// fieldsDiffer lists how ours departs from the original's fields: each
// original field must be there with the same id, type and marker (and, with
// names, the same name: PHP callers build structs by field name); a field
// of ours the original lacks must be optional.
func fieldsDiffer(orig, ours []idlField, names bool) []string {
	var diffs []string
	for _, o := range orig {
		i := slices.IndexFunc(ours, func(f idlField) bool { return f.Key == o.Key })
		switch {
		case i < 0:
			diffs = append(diffs, fmt.Sprintf("lacks %s", o))
		case typeName(ours[i].TypeID, ours[i].Type) != typeName(o.TypeID, o.Type) || ours[i].Required != o.Required ||
			names && ours[i].Name != o.Name:
			diffs = append(diffs, fmt.Sprintf("has %s where the original has %s", ours[i], o))
		}
	}
	for _, f := range ours {
		if !slices.ContainsFunc(orig, func(o idlField) bool { return o.Key == f.Key }) && f.Required != "optional" {
			diffs = append(diffs, fmt.Sprintf("adds %s, which is not optional", f))
		}
	}
	return diffs
}

// methodDiffers lists how our method departs from the original's: the
// return type, oneway and arguments as fieldsDiffer; each exception the
// original declares must be declared with the same id and type (faed may
// declare more: new fields of the result struct).
func methodDiffers(orig, ours idlFunction) []string {
	var diffs []string
	if got, want := typeName(ours.ReturnTypeID, ours.ReturnType), typeName(orig.ReturnTypeID, orig.ReturnType); got != want {
		diffs = append(diffs, fmt.Sprintf("returns %s, the original %s", got, want))
	}
	if ours.Oneway != orig.Oneway {
		diffs = append(diffs, fmt.Sprintf("oneway %v, the original %v", ours.Oneway, orig.Oneway))
	}
	diffs = append(diffs, fieldsDiffer(orig.Arguments, ours.Arguments, false)...)
	for _, o := range orig.Exceptions {
		if !slices.ContainsFunc(ours.Exceptions, func(f idlField) bool {
			return f.Key == o.Key && typeName(f.TypeID, f.Type) == typeName(o.TypeID, o.Type)
		}) {
			diffs = append(diffs, fmt.Sprintf("does not throw %s", o))
		}
	}
	return diffs
}

// TestOriginalInterface checks idl/fun.thrift against the original's wire
// interface, method by method and struct by struct, from what the Thrift
// compiler itself makes of both files.
func TestOriginalInterface(t *testing.T) {
	requireInstalled(t, thriftCompiler)
	orig, ours := compileJSON(t, originalIDL), compileJSON(t, "../../idl/fun.thrift")
	if len(orig.Services) != 1 || orig.Services[0].Name != "FunServant" {
		t.Fatalf("%s: want the one service FunServant", originalIDL)
	}
	i := slices.IndexFunc(ours.Services, func(s idlService) bool { return s.Name == "FunServant" })
	if i < 0 {
		t.Fatal("idl/fun.thrift has no service FunServant")
	}
	methods := ours.Services[i].Functions
	matched := 0
	for _, o := range orig.Services[0].Functions {
		j := slices.IndexFunc(methods, func(f idlFunction) bool { return f.Name == o.Name })
		if j < 0 {
			t.Errorf("%s: idl/fun.thrift lacks it", o.Name)
			continue
		}
		if diffs := methodDiffers(o, methods[j]); len(diffs) > 0 {
			t.Errorf("%s: idl/fun.thrift %s", o.Name, strings.Join(diffs, "; "))
			continue
		}
		matched++
	}
	t.Logf("%d/%d methods of the original's interface served as it declared them", matched, len(orig.Services[0].Functions))
	if n := len(orig.Services[0].Functions); n != 35 {
		t.Errorf("%s declares %d methods, want 35 (SPEC §1, without rd_call, cb_* and gm_*)", originalIDL, n)
	}
	for _, o := range orig.Structs {
		j := slices.IndexFunc(ours.Structs, func(s idlStruct) bool { return s.Name == o.Name })
		if j < 0 {
			t.Errorf("struct %s: idl/fun.thrift lacks it", o.Name)
			continue
		}
		if diffs := fieldsDiffer(o.Fields, ours.Structs[j].Fields, true); len(diffs) > 0 {
			t.Errorf("struct %s: idl/fun.thrift %s", o.Name, strings.Join(diffs, "; "))
		}
	}
}

// TestOriginalPHPCallers runs testdata/original/callers.php, PHP written the
// way the original's client scripts were (Context without uid, TMemcacheData
// without flags, TSocketPool, id_next_with_tag without a tag), through stubs
// generated from the original's interface, against faed with real
// memcached, MariaDB, FerretDB and ZooKeeper. Every call must be answered as
// the original answered it, and faed must have counted the fields the
// script left out.
func TestOriginalPHPCallers(t *testing.T) {
	requireInstalled(t, thriftCompiler)
	requireInstalled(t, scriptClient{
		probe: []string{"php", "-r", `if (!is_file((getenv("FAE_THRIFT_LIB") ?: "/usr/lib/php") . "/Transport/TSocketPool.php")) {
				echo "no Thrift\\Transport\\TSocketPool under ", getenv("FAE_THRIFT_LIB") ?: "/usr/lib/php";
				exit(3);
			}
			if (!function_exists("MongoDB\\BSON\\fromPHP")) {
				echo "no MongoDB\\BSON\\fromPHP: the mongodb extension is not loaded";
				exit(4);
			}`},
		install: "php-cli, php-thrift and php-mongodb",
	})
	stubs := t.TempDir()
	if out, err := exec.Command("thrift", "--gen", "php", "-out", stubs, originalIDL).CombinedOutput(); err != nil {
		t.Fatalf("thrift --gen php %s: %v\n%s", originalIDL, err, out)
	}
	b := startBackends(t)
	d := testserver.StartFaed(t, t.TempDir(), b.toml())

	host, port, _ := net.SplitHostPort(d.TCP)
	ctx, cancel := context.WithTimeout(t.Context(), backendsScriptTimeout)
	defer cancel()
	args := []string{"testdata/original/callers.php", host, port, stubs, "orig" + port}
	out, err := exec.CommandContext(ctx, "php", args...).CombinedOutput()
	if ctx.Err() != nil || err != nil {
		t.Fatalf("php %s: %v (%v)\n%s", strings.Join(args, " "), err, ctx.Err(), out)
	}
	t.Logf("callers.php:\n%s", out)
	made := checkCallerLines(t, string(out))

	// Every call but noop built its Context without uid; mc_set and mc_add
	// sent a TMemcacheData without flags. Nothing else was left out.
	want := map[engine.MissingFieldSnapshot]bool{}
	for call, n := range made {
		if call != "noop" {
			want[engine.MissingFieldSnapshot{Call: call, Field: "Context.UID", Count: int64(n)}] = true
		}
	}
	for _, call := range []string{"mc_set", "mc_add"} {
		want[engine.MissingFieldSnapshot{Call: call, Field: "TMemcacheData.Flags", Count: int64(made[call])}] = true
	}
	got := engineStats(t, d).MissingFields
	for _, m := range got {
		if !want[m] {
			t.Errorf("/stats missing_fields has %+v; want only Context.UID per call made and TMemcacheData.Flags for mc_set, mc_add", m)
		}
		delete(want, m)
	}
	for m := range want {
		t.Errorf("/stats missing_fields lacks %+v (it has %+v)", m, got)
	}
}

// callerLines are the calls callers.php must report, in order: the method
// of each line.
var callerLines = []string{
	"ping", "noop", "id_next", "id_next", "id_next_with_tag", "id_decode",
	"lc_set", "lc_get", "lc_del", "lc_get", "lock", "lock", "unlock",
	"mc_set", "mc_get", "mc_add", "mc_increment", "mc_delete", "mc_get",
	"my_query", "my_query", "my_query", "my_query",
	"mg_insert", "mg_inserts", "mg_find_one", "mg_find_one", "mg_count", "mg_find_all",
	"mg_find_and_modify", "mg_find_and_modify", "mg_find_and_modify",
	"zk_create", "zk_children", "zk_del", "zk_del",
}

// checkCallerLines checks that callers.php reported every call ok, in order,
// and returns how many calls of each method it made.
func checkCallerLines(t *testing.T, out string) map[string]int {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || lines[len(lines)-1] != "done" {
		t.Errorf("callers.php did not finish with \"done\"")
	}
	line := regexp.MustCompile(`^(ok|FAIL) ([a-z_]+) `)
	made := map[string]int{}
	var methods []string
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] != "ok" {
			t.Errorf("callers.php: %s", l)
		}
		methods = append(methods, m[2])
		made[m[2]]++
	}
	if !slices.Equal(methods, callerLines) {
		t.Errorf("callers.php made the calls %q, want %q", methods, callerLines)
	}
	return made
}

// engineStats reads the engine section of GET /stats.
func engineStats(t *testing.T, d *testserver.Faed) engine.Snapshot {
	t.Helper()
	var stats struct {
		Engine engine.Snapshot `json:"engine"`
	}
	if err := json.Unmarshal(adminGet(t, d, "/stats"), &stats); err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	return stats.Engine
}

// rawArg is one argument of a hand-built call: its field id and value.
type rawArg struct {
	id    int16
	value string
}

// rawCall is a hand-built call, the result struct its reply is read into,
// and the check of that result.
type rawCall struct {
	name   string
	args   []rawArg
	result thrift.TStruct
	check  func() error
}

// answered is nil when ok, else an error showing the result and what was wanted.
func answered(ok bool, result any, want string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("answered %+v, want %s", result, want)
}

// TestCallWithoutContext sends calls whose Context (field 1) is missing
// entirely, which no generated client can send: each is answered, the
// connection stays open for the next, and faed counts each missing
// required context per call.
func TestCallWithoutContext(t *testing.T) {
	d := testserver.StartFaed(t, t.TempDir(), "")
	conn, err := net.DialTimeout("tcp", d.TCP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	proto := thrift.NewTBinaryProtocolConf(thrift.NewStreamTransport(bufio.NewReader(conn), conn), nil)
	ctx := context.Background()

	ping, idNext := rpc.NewFunServantPingResult(), rpc.NewFunServantIDNextResult()
	lcSet, lcGet := rpc.NewFunServantLcSetResult(), rpc.NewFunServantLcGetResult()
	kvSet, kvGet, kvDel := rpc.NewFunServantKvdbSetResult(), rpc.NewFunServantKvdbGetResult(), rpc.NewFunServantKvdbDelResult()
	lock := rpc.NewFunServantLockResult()
	none := func() error { return nil }
	key, value := rawArg{2, "k"}, rawArg{3, "v"}
	calls := []rawCall{
		{"ping", nil, ping, func() error { return answered(strings.HasPrefix(ping.GetSuccess(), "ver:"), ping, "the ping text") }},
		{"id_next", nil, idNext, func() error { return answered(idNext.GetSuccess() > 0, idNext, "an id") }},
		{"lc_set", []rawArg{key, value}, lcSet, func() error { return answered(lcSet.GetSuccess(), lcSet, "true") }},
		{"lc_get", []rawArg{key}, lcGet, func() error { return answered(string(lcGet.GetSuccess()) == "v", lcGet, `"v"`) }},
		{"lc_del", []rawArg{key}, rpc.NewFunServantLcDelResult(), none},
		{"lock", []rawArg{{2, "reason"}, {3, "k"}}, lock, func() error { return answered(lock.GetSuccess(), lock, "true") }},
		{"unlock", []rawArg{{2, "reason"}, {3, "k"}}, rpc.NewFunServantUnlockResult(), none},
		{"kvdb_set", []rawArg{key, value}, kvSet, func() error { return answered(kvSet.GetSuccess(), kvSet, "true") }},
		{"kvdb_get", []rawArg{key}, kvGet, func() error { return answered(string(kvGet.GetSuccess()) == "v", kvGet, `"v"`) }},
		{"kvdb_del", []rawArg{key}, kvDel, func() error { return answered(kvDel.GetSuccess(), kvDel, "true") }},
	}
	for i, c := range calls {
		if err := writeRawCall(ctx, proto, c.name, int32(i+1), c.args); err != nil {
			t.Fatalf("%s: writing: %v", c.name, err)
		}
		name, typ, seq, err := proto.ReadMessageBegin(ctx)
		if err != nil {
			t.Fatalf("%s without a context: reading the reply: %v (the connection should stay open)", c.name, err)
		}
		if typ != thrift.REPLY || name != c.name || seq != int32(i+1) {
			app := thrift.NewTApplicationException(0, "")
			if typ == thrift.EXCEPTION {
				app.Read(ctx, proto)
			}
			t.Fatalf("%s without a context: reply %q type %d seq %d (%v); want a REPLY", c.name, name, typ, seq, app)
		}
		if err := c.result.Read(ctx, proto); err != nil {
			t.Fatalf("%s: reading the result: %v", c.name, err)
		}
		proto.ReadMessageEnd(ctx)
		if err := c.check(); err != nil {
			t.Errorf("%s without a context: %v", c.name, err)
		}
	}

	counted := map[string]int64{}
	for _, m := range engineStats(t, d).MissingFields {
		if strings.HasSuffix(m.Field, "Args.ReqCtx") {
			counted[m.Call] += m.Count
		}
	}
	for _, c := range calls {
		// lock and unlock mark no argument required: a missing one is
		// nothing to count.
		want := int64(1)
		if c.name == "lock" || c.name == "unlock" {
			want = 0
		}
		if counted[c.name] != want {
			t.Errorf("/stats missing_fields counts %d missing contexts for %s, want %d", counted[c.name], c.name, want)
		}
	}
}

// writeRawCall writes a CALL message whose argument struct holds only args,
// each a string field (binary and string are one wire type).
func writeRawCall(ctx context.Context, p thrift.TProtocol, name string, seq int32, args []rawArg) error {
	if err := p.WriteMessageBegin(ctx, name, thrift.CALL, seq); err != nil {
		return err
	}
	p.WriteStructBegin(ctx, name+"_args")
	for _, a := range args {
		p.WriteFieldBegin(ctx, "", thrift.STRING, a.id)
		p.WriteString(ctx, a.value)
		p.WriteFieldEnd(ctx)
	}
	p.WriteFieldStop(ctx)
	p.WriteStructEnd(ctx)
	p.WriteMessageEnd(ctx)
	return p.Flush(ctx)
}
