package server

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIDocumentsEveryRoute: each route registered in routes() is a
// path and method of docs/openapi.yaml, and the YAML names no other.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+) (/[^"]*)"`).FindAllStringSubmatch(string(src), -1)
	if len(routes) < 16 {
		t.Fatalf("found only %d routes in server.go", len(routes))
	}
	seen := map[string]bool{}
	for _, r := range routes {
		method, path := strings.ToLower(r[1]), r[2]
		seen[method+" "+path] = true
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("route %s %s is not in docs/openapi.yaml", r[1], path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !seen[method+" "+path] {
				t.Errorf("docs/openapi.yaml documents %s %s, which the server does not serve", method, path)
			}
		}
	}
}
