// Generates the golden HTTP files the specs compare against, with real Go:
//   cd spec/golden && go run gen.go
// For each http/NAME.req: NAME.req.dump (httputil.DumpRequest(req, true)),
// NAME.req.head (DumpRequest(req, false)) or NAME.req.err (ReadRequest's error).
// For each http/NAME.resp: NAME.resp.dump / .head / .err likewise (a name
// starting with "head_" is read as the answer to a HEAD request).
// Also http/go_*.out: what Request.Write and Response.Write put on the wire.
// Go is not a dependency of netharness: this is run by hand when adding cases.
package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
)

func write(name string, b []byte) {
	if err := os.WriteFile(name, b, 0o644); err != nil {
		panic(err)
	}
}

func main() {
	reqs, _ := filepath.Glob("http/*.req")
	for _, f := range reqs {
		raw, _ := os.ReadFile(f)
		for _, withBody := range []bool{true, false} {
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				write(f+".err", []byte(err.Error()+"\n"))
				break
			}
			dump, err := httputil.DumpRequest(req, withBody)
			if err != nil {
				write(f+".err", []byte(err.Error()+"\n"))
				break
			}
			if withBody {
				write(f+".dump", dump)
			} else {
				write(f+".head", dump)
			}
		}
	}
	resps, _ := filepath.Glob("http/*.resp")
	for _, f := range resps {
		raw, _ := os.ReadFile(f)
		method := "GET"
		if strings.HasPrefix(filepath.Base(f), "head_") {
			method = "HEAD"
		}
		for _, withBody := range []bool{true, false} {
			req, _ := http.NewRequest(method, "http://x/", nil)
			res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
			if err != nil {
				write(f+".err", []byte(err.Error()+"\n"))
				break
			}
			dump, err := httputil.DumpResponse(res, withBody)
			if err != nil {
				write(f+".err", []byte(err.Error()+"\n"))
				break
			}
			if withBody {
				write(f+".dump", dump)
			} else {
				write(f+".head", dump)
			}
		}
	}

	var b bytes.Buffer
	req, _ := http.NewRequest("GET", "http://localhost:8080", nil)
	req.Write(&b)
	write("http/go_get.out", b.Bytes())

	b.Reset()
	req, _ = http.NewRequest("POST", "http://127.0.0.1:9000/submit?a=1", strings.NewReader("name=value"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Add("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	req.Write(&b)
	write("http/go_post.out", b.Bytes())

	b.Reset()
	req, _ = http.NewRequest("POST", "http://h/empty", nil)
	req.Write(&b)
	write("http/go_post_empty.out", b.Bytes())

	b.Reset()
	res := http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 0,
		Body: io.NopCloser(strings.NewReader("TCP connection"))}
	res.Write(&b)
	write("http/go_seed_response.out", b.Bytes())

	b.Reset()
	res = http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(strings.NewReader("TCP connection"))}
	res.Write(&b)
	write("http/go_response11_unknown_length.out", b.Bytes())

	b.Reset()
	res = http.Response{StatusCode: 404, ProtoMajor: 1, ProtoMinor: 1, ContentLength: 9,
		Header: http.Header{"Content-Type": {"text/plain"}},
		Body:   io.NopCloser(strings.NewReader("not found"))}
	res.Write(&b)
	write("http/go_response11_cl.out", b.Bytes())

	b.Reset()
	res = http.Response{StatusCode: 204, ProtoMajor: 1, ProtoMinor: 1}
	res.Write(&b)
	write("http/go_response_204.out", b.Bytes())
}
