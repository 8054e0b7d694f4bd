package kryptogo

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
)

// HistoryOptions selects a page of task history.
type HistoryOptions struct {
	PageSize          int    // tasks per page; 0 means 20
	PageNumber        int    // page to fetch, from 1; 0 means 1
	CustomerReference string // only the tasks of this customer, when set
}

const defaultPageSize = 20

// defaults fills in the first page of 20.
func (o *HistoryOptions) defaults() {
	if o.PageSize == 0 {
		o.PageSize = defaultPageSize
	}
	if o.PageNumber == 0 {
		o.PageNumber = 1
	}
}

func (o *HistoryOptions) validate(v *validator) {
	if o.PageSize < 0 {
		v.add("page_size", "must not be negative")
	}
	if o.PageNumber < 0 {
		v.add("page_number", "must not be negative")
	}
}

// query encodes the options as the query of GET /tasks.
func (o *HistoryOptions) query() url.Values {
	q := url.Values{
		"page_size":   {strconv.Itoa(o.PageSize)},
		"page_number": {strconv.Itoa(o.PageNumber)},
	}
	if o.CustomerReference != "" {
		q.Set("customer_reference", o.CustomerReference)
	}
	return q
}

// prepareHistory returns opts with its defaults; nil is the first page.
func prepareHistory(opts *HistoryOptions) (*HistoryOptions, error) {
	if opts == nil {
		opts = &HistoryOptions{}
	}
	return prepare(opts)
}

// TaskPage is one page of task history. It prints as its number of tasks.
type TaskPage struct {
	rawResponse
	Data   []TaskSummary   `json:"data"`
	Paging json.RawMessage `json:"paging,omitempty"`
}

func (p TaskPage) view() redactedView {
	return view("TaskPage", slog.Int("tasks", len(p.Data)))
}

// Format prints the redacted form for every verb.
func (p TaskPage) Format(f fmt.State, verb rune) { p.view().format(f, verb) }

// LogValue logs the redacted form.
func (p TaskPage) LogValue() slog.Value { return p.view().logValue() }

// History fetches one page of task history, newest first: GET /tasks.
func (s *TaskService) History(ctx context.Context, opts *HistoryOptions, callOpts ...Option) (*TaskPage, error) {
	page, err := prepareHistory(opts)
	if err != nil {
		return nil, s.client.refuse(ctx, &opTasksList, callOpts, err)
	}
	return call[TaskPage](ctx, s.client, &opTasksList, "/tasks", page.query(), nil, callOpts)
}

// All iterates over every task of the history (GET /tasks, page by page),
// up to an empty or short page, an error (yielded once; a page that repeats
// the one before is one) or a break.
func (s *TaskService) All(ctx context.Context, opts *HistoryOptions, callOpts ...Option) iter.Seq2[*TaskSummary, error] {
	return func(yield func(*TaskSummary, error) bool) {
		page, err := prepareHistory(opts)
		if err == nil {
			_, err = s.client.config(callOpts)
		}
		if err != nil {
			yield(nil, s.client.refuse(ctx, &opTasksList, callOpts, err))
			return
		}
		var previous *TaskPage
		for {
			res, err := s.History(ctx, page, callOpts...)
			if err == nil {
				err = repeatedPage(previous, res, page.PageNumber)
			}
			if err != nil {
				yield(nil, err)
				return
			}
			previous = res
			for i := range res.Data {
				if !yield(&res.Data[i], nil) {
					return
				}
			}
			if len(res.Data) < page.PageSize {
				return
			}
			page.PageNumber++
		}
	}
}

// repeatedPage returns an error when page number n starts with the task
// that started the page before it: the server ignored page_number.
func repeatedPage(previous, page *TaskPage, n int) error {
	if previous == nil || len(previous.Data) == 0 || len(page.Data) == 0 ||
		previous.Data[0].TaskID != page.Data[0].TaskID {
		return nil
	}
	return &ResponseError{Method: http.MethodGet, Path: "/tasks", StatusCode: http.StatusOK,
		Err: fmt.Errorf("page %d starts with the task that started page %d: the server ignores page_number; stopped", n, n-1)}
}
