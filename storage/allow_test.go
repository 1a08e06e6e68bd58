package storage

import (
	"strings"
	"testing"
)

func TestAllowListCheck(t *testing.T) {
	const list = "s3://team-a/, s3://shared/team-a/emb ,file:///data/team-a/"
	tests := []struct {
		uri     string
		allowed bool
		why     string // in the error when refused
	}{
		{"s3://team-a/", true, ""},
		{"s3://team-a", true, ""},
		{"s3://team-a/corpus/epoch-1/", true, ""},
		{"s3://shared/team-a/emb/", true, ""},
		{"s3://shared/team-a/emb/x/", true, ""},
		{"s3://shared/team-a/emb", true, ""},
		{"file:///data/team-a/out/", true, ""},
		{"/data/team-a/out", true, ""},
		{"/data//team-a/./out/", true, ""}, // the file backend cleans these too
		{"S3://team-a/x/", true, ""},       // schemes are case-insensitive

		{"s3://team-a-other/", false, "not under a prefix"},
		{"s3://team-b/", false, "not under a prefix"},
		{"s3://TEAM-A/", false, "not under a prefix"},
		{"s3://shared/team-a/embeddings/", false, "not under a prefix"},
		{"s3://shared/team-a/", false, "not under a prefix"},
		{"s3://shared/", false, "not under a prefix"},
		{"s3://team-a@team-b/", false, "not under a prefix"}, // the bucket is team-b
		{"s3://team-a:443/", false, "not under a prefix"},
		{"s3://team-a/../team-b/", false, `".." segment`},
		{"s3://shared/team-a/emb/../../team-b/", false, `".." segment`},
		{"s3://shared/team-a/emb/%2e%2e/x/", false, `".." segment`},
		{"s3://shared/team-a/emb/..%2f..%2fx/", false, `".." segment`},
		{"s3://shared//team-a/emb/", false, "empty segment"},
		{"s3://shared/team-a/./emb/", false, `"." segment`},
		{"file:///data/team-a/../team-b/", false, `".." segment`},
		{"/data/team-a/../team-b", false, `".." segment`},
		{"file:///data/team-ab/", false, "not under a prefix"},
		{"file:///etc/", false, "not under a prefix"},
		{"/etc/passwd", false, "not under a prefix"},
		{"relative/path", false, "not under a prefix"},
		{"gs://team-a/", false, "unsupported scheme"},
		{"file://team-a/x/", false, "take no host"},
		{"", false, "empty"},
	}
	l, err := ParseAllowList(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		err := l.Check(tt.uri)
		if (err == nil) != tt.allowed {
			t.Errorf("Check(%q) = %v, want allowed %v", tt.uri, err, tt.allowed)
			continue
		}
		if err == nil {
			continue
		}
		for _, want := range []string{tt.why, "s3://team-a/", "s3://shared/team-a/emb/", "file:///data/team-a/"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Check(%q) = %q, want it to say %q", tt.uri, err, want)
			}
		}
	}
}

func TestAllowListUnrestricted(t *testing.T) {
	for _, s := range []string{"", " , ,"} {
		l, err := ParseAllowList(s)
		if err != nil {
			t.Fatalf("ParseAllowList(%q): %v", s, err)
		}
		if !l.Unrestricted() {
			t.Errorf("ParseAllowList(%q) restricts", s)
		}
		for _, uri := range []string{"s3://anything/", "/etc/", "file:///x/"} {
			if err := l.Check(uri); err != nil {
				t.Errorf("ParseAllowList(%q).Check(%q) = %v, want nil", s, uri, err)
			}
		}
	}
	var nilList *AllowList
	if err := nilList.Check("/etc/"); err != nil {
		t.Errorf("nil AllowList refused: %v", err)
	}
}

func TestParseAllowListRefusesUnclean(t *testing.T) {
	for _, s := range []string{"s3://b/../c/", "gs://b/", "s3:///x", "s3://b//x/", "file://host/x"} {
		if _, err := ParseAllowList("s3://ok/," + s); err == nil {
			t.Errorf("ParseAllowList(%q) accepted an unclean prefix", s)
		}
	}
}
