package github

import (
	gh "github.com/google/go-github/v60/github"
)

// prDelivery is a pull_request or pull_request_review delivery with only
// the fields the connector reads. The payload is some 28 KB, most of it
// repository and user objects nobody reads: decoding into go-github's full
// event allocated every one of them, and was most of a webhook's CPU. The
// raw body is stored whole beside the events, so nothing is lost.
type prDelivery struct {
	Action      string  `json:"action"`
	PullRequest *wirePR `json:"pull_request"`
	Repo        struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Changes *struct {
		Title *wireFrom `json:"title"`
		Body  *wireFrom `json:"body"`
	} `json:"changes"`
	Review *struct {
		State string `json:"state"`
	} `json:"review"`
}

type wireFrom struct {
	From string `json:"from"`
}

type wireLogin struct {
	Login string `json:"login"`
}

type wireBranch struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

// wirePR is the part of a pull request that prItem reads.
type wirePR struct {
	Number            int           `json:"number"`
	Title             string        `json:"title"`
	Body              *string       `json:"body"`
	State             string        `json:"state"`
	Draft             bool          `json:"draft"`
	Merged            bool          `json:"merged"`
	MergedAt          *gh.Timestamp `json:"merged_at"`
	UpdatedAt         *gh.Timestamp `json:"updated_at"`
	HTMLURL           string        `json:"html_url"`
	AuthorAssociation string        `json:"author_association"`
	User              *wireLogin    `json:"user"`
	Assignee          *wireLogin    `json:"assignee"`
	Assignees         []wireLogin   `json:"assignees"`
	Labels            []struct {
		Name string `json:"name"`
	} `json:"labels"`
	Head wireBranch `json:"head"`
	Base wireBranch `json:"base"`
}

// pullRequest is w as the go-github type the rest of the connector shares
// with its polls and fetches; nil when the delivery had no pull request.
func (w *wirePR) pullRequest() *gh.PullRequest {
	if w == nil {
		return nil
	}
	pr := &gh.PullRequest{
		Number:            &w.Number,
		Title:             &w.Title,
		Body:              w.Body,
		State:             &w.State,
		Draft:             &w.Draft,
		Merged:            &w.Merged,
		MergedAt:          w.MergedAt,
		UpdatedAt:         w.UpdatedAt,
		HTMLURL:           &w.HTMLURL,
		AuthorAssociation: &w.AuthorAssociation,
		Head:              &gh.PullRequestBranch{Ref: &w.Head.Ref, SHA: &w.Head.SHA},
		Base:              &gh.PullRequestBranch{Ref: &w.Base.Ref, SHA: &w.Base.SHA},
	}
	if w.User != nil {
		pr.User = &gh.User{Login: &w.User.Login}
	}
	if w.Assignee != nil {
		pr.Assignee = &gh.User{Login: &w.Assignee.Login}
	}
	for i := range w.Assignees {
		pr.Assignees = append(pr.Assignees, &gh.User{Login: &w.Assignees[i].Login})
	}
	for i := range w.Labels {
		pr.Labels = append(pr.Labels, &gh.Label{Name: &w.Labels[i].Name})
	}
	return pr
}
