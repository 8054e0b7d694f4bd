// Package everyendpoint calls every endpoint of the API once, with personal
// data wherever an endpoint takes some, and with failures injected: for the
// tests that check what the SDK tells an Observer (the core's and
// otelkryptogo's), which must never hold one of those values.
package everyendpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// The personal values the calls carry.
const (
	Name     = "Jane Quincy Roe"
	Birthday = "1985-01-31"
	IDNumber = "A123456789"
	Customer = "customer-4711"
)

// Operations are the operations Call makes: every service method, and Do.
var Operations = []string{"KYA.Create", "KYA.Get", "KYA.Screen", "Tasks.Create", "Tasks.CreateOne", "Tasks.CreateOnce",
	"Tasks.Summary", "Tasks.Get", "Tasks.SetAccepted", "Tasks.SetMetadata", "Tasks.History",
	"IDV.Create", "IDV.Get", "IDV.InitWeb", "IDV.InitMobile", "Do"}

// Call calls every endpoint of srv through client, one call at a time, so
// that the fake's requests come in the order of the calls' attempts. One
// more call, a task with an invalid citizenship, is refused before sending.
// It returns the id of the task it created, or the first call that did not
// go as planned.
func Call(ctx context.Context, srv *kryptogotest.Server, client *kryptogo.Client) (kryptogo.ID, error) {
	c := calls{ctx: ctx, srv: srv, client: client}
	c.kya()
	id := c.tasks()
	c.idv()
	c.do(client.Do(ctx, http.MethodGet, fmt.Sprintf("/task/%d/summary?customer_reference=%s", id, Customer), nil, nil))
	_, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{Target: kryptogo.KYCTarget(Name, Birthday, "nowhere")}})
	if !errors.Is(err, kryptogo.ErrInvalidRequest) {
		c.fail("an invalid task", err)
	}
	return id, c.err
}

// calls keeps the first failure of Call.
type calls struct {
	ctx    context.Context
	srv    *kryptogotest.Server
	client *kryptogo.Client
	err    error
}

func (c *calls) do(err error) {
	if err != nil {
		c.fail("a call", err)
	}
}

func (c *calls) fail(what string, err error) {
	if c.err == nil {
		c.err = fmt.Errorf("everyendpoint: %s: %v", what, err)
	}
}

func (c *calls) kya() {
	res, err := c.client.KYA.Create(c.ctx, &kryptogo.CreateKYARequest{Address: "0x1111111111111111111111111111111111111111"})
	if err != nil {
		c.fail("KYA.Create", err)
		return
	}
	_, err = c.client.KYA.Get(c.ctx, res.KYAID)
	c.do(err)
	results := c.client.KYA.Screen(c.ctx, []kryptogo.CreateKYARequest{{Address: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}, {Address: Name}}, nil)
	c.do(results[0].Err)
}

func (c *calls) tasks() kryptogo.ID {
	ctx, tasks := c.ctx, c.client.Tasks
	kyc := kryptogo.CreateTaskRequest{SearchSettingID: 2, Target: kryptogo.KYCTarget(Name, Birthday, "TWN"), CustomerReference: Customer}
	created, err := tasks.Create(ctx, []kryptogo.CreateTaskRequest{kyc})
	if err != nil {
		c.fail("Tasks.Create", err)
		return 0
	}
	id := created[0].TaskID
	c.srv.FailNextOn("/task", 1, http.StatusBadRequest) // an error answer
	if _, err := tasks.CreateOne(ctx, kyc); err == nil {
		c.fail("Tasks.CreateOne", errors.New("the injected 400 did not fail it"))
	}
	c.srv.DropNextResponse(http.MethodPost, "/task", 1) // a send in doubt, reconciled
	_, err = tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kyc})
	c.do(err)
	c.srv.FailNext(1, http.StatusServiceUnavailable) // a retry
	_, err = tasks.Summary(ctx, id)
	c.do(err)
	_, err = tasks.Get(ctx, id)
	c.do(err)
	_, err = tasks.Reject(ctx, id, "matches "+Name)
	c.do(err)
	c.do(tasks.SetMetadata(ctx, id, []kryptogo.Metadata{{Key: "tier", Value: "gold"}}))
	_, err = tasks.History(ctx, &kryptogo.HistoryOptions{CustomerReference: Customer})
	c.do(err)
	return id
}

func (c *calls) idv() {
	ctx, idv := c.ctx, c.client.IDV
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 640, 400)), nil); err != nil {
		c.fail("an image", err)
		return
	}
	img := kryptogo.ImageFromBytes(buf.Bytes())
	created, err := idv.Create(ctx, &kryptogo.CreateIDVRequest{Country: "TWN", IDType: kryptogo.IDTypeIDCard, IDImage: img, IDBackImage: img,
		IDAndFaceImage: img, ExpectedName: Name, ExpectedBirthday: Birthday, ExpectedIDNumber: IDNumber})
	if err != nil {
		c.fail("IDV.Create", err)
		return
	}
	_, err = idv.Get(ctx, created.IDVTaskID)
	c.do(err)
	_, err = idv.InitWeb(ctx, &kryptogo.InitWebIDVRequest{IDType: kryptogo.IDTypeIDCard, WorkflowID: kryptogo.WorkflowIDAndIdentity,
		Country: "TWN", CustomerReference: Customer, ExpectedName: Name, ExpectedBirthday: Birthday, ExpectedIDNumber: IDNumber})
	c.do(err)
	_, err = idv.InitMobile(ctx, &kryptogo.InitMobileIDVRequest{Country: "TWN", ExpectedName: Name, ExpectedIDNumber: IDNumber})
	c.do(err)
}
