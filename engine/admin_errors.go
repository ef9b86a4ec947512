package engine

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// jsonErrors makes every error the mux produces itself (405 for a wrong
// method, say) a JSON body, and turns a panic into a JSON 500, never an
// empty one.
func jsonErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				slog.Error("admin: panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", p))
			}
		}()
		next.ServeHTTP(&errorWriter{ResponseWriter: w, r: r}, r)
	})
}

// errorWriter replaces the plain-text body of a mux-generated 405 or 404
// with a JSON one. Handlers that write JSON themselves set Content-Type
// first and pass through untouched.
type errorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (w *errorWriter) WriteHeader(code int) {
	if code >= 400 && w.Header().Get("Content-Type") != "application/json" {
		w.replaced = true
		w.Header().Del("Content-Length")
		msg := fmt.Sprintf("%s %s: %s", w.r.Method, w.r.URL.Path, http.StatusText(code))
		writeError(w.ResponseWriter, code, msg)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorWriter) Write(p []byte) (int, error) {
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets pprof stream through the wrapper.
func (w *errorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
