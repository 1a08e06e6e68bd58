package storage

import "testing"

func TestParseURI(t *testing.T) {
	tests := []struct {
		in      string
		want    Location
		wantErr bool
	}{
		{in: "s3://bucket/a/b/", want: Location{Scheme: "s3", Bucket: "bucket", Prefix: "a/b/"}},
		{in: "s3://bucket/a/b", want: Location{Scheme: "s3", Bucket: "bucket", Prefix: "a/b/"}},
		{in: "s3://bucket", want: Location{Scheme: "s3", Bucket: "bucket"}},
		{in: "s3://bucket/", want: Location{Scheme: "s3", Bucket: "bucket"}},
		{in: "file:///data/emb/", want: Location{Scheme: "file", Root: "/data/emb"}},
		{in: "file://localhost/data/emb", want: Location{Scheme: "file", Root: "/data/emb"}},
		{in: "/data/emb", want: Location{Scheme: "file", Root: "/data/emb"}},
		{in: "/data/../x/emb/", want: Location{Scheme: "file", Root: "/x/emb"}},
		{in: "", wantErr: true},
		{in: "s3:///nobucket", wantErr: true},
		{in: "gs://bucket/x", wantErr: true},
		{in: "file://otherhost/x", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseURI(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseURI(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestLocationContains(t *testing.T) {
	tests := []struct {
		outer, inner string
		want         bool
	}{
		{"s3://b/in/", "s3://b/in/out/", true},
		{"s3://b/in/", "s3://b/in/", true},
		{"s3://b/in/", "s3://b/input/", false},
		{"s3://b/in/", "s3://c/in/out/", false},
		{"s3://b/", "s3://b/anything/", true},
		{"/data/in", "/data/in/out", true},
		{"/data/in", "/data/input", false},
		{"/data/in", "s3://b/data/in/out", false},
	}
	for _, tt := range tests {
		o, _ := ParseURI(tt.outer)
		i, _ := ParseURI(tt.inner)
		if got := o.Contains(i); got != tt.want {
			t.Errorf("%q.Contains(%q) = %v, want %v", tt.outer, tt.inner, got, tt.want)
		}
	}
}
