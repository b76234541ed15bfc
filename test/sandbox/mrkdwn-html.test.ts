import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blocksToHtml } from '../../sandbox/block-kit-html.js';
import { mrkdwnToHtml, type DisplayContext } from '../../sandbox/mrkdwn-html.js';

const context: DisplayContext = {
  userName: (id) => ({ U0ALICE: 'Alice' })[id],
  channelName: (id) => ({ C0INCIDENT42: 'incident-42' })[id],
  groupName: (id) => ({ S0ONCALL: 'oncall' })[id],
  timeZone: 'UTC',
};

describe('mrkdwn as the sandbox page shows it', () => {
  it.each([
    ['*Why:* because', '<b>Why:</b> because'],
    ['_in italics_ and ~struck~', '<i>in italics</i> and <s>struck</s>'],
    ['run `run_8f9a` now', 'run <code>run_8f9a</code> now'],
    ['```a *b*\nc```', '<pre>a *b*\nc</pre>'],
    ['a\nb', 'a<br>b'],
    ['&gt; quoted', '<blockquote>quoted</blockquote>'],
    [':warning: :no_such_emoji:', '⚠️ :no_such_emoji:'],
    ['2*3*4 and snake_case_name', '2*3*4 and snake_case_name'],
  ])('%j becomes %j', (text, html) => {
    expect(mrkdwnToHtml(text, context)).toBe(html);
  });

  it('shows every emoji the bot’s own messages use as the emoji, not as its :name:', () => {
    const sources = readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    // An emoji in a message: `:name:` opening a string or after a space, followed by a space (key names are not).
    const used = new Set(sources.flatMap((file) => [...readFileSync(join('src', file), 'utf8').matchAll(/(?<=['"`\s]):([a-z][a-z0-9_]*):(?= )/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((emoji) => mrkdwnToHtml(emoji, context) === emoji)).toEqual([]);
  });

  it('shows mentions by name, as Slack does', () => {
    expect(mrkdwnToHtml('by <@U0ALICE>, <@U0NOBODY>, <!subteam^S0ONCALL> in <#C0INCIDENT42>', context)).toBe(
      'by <span class="mention">@Alice</span>, <span class="mention">@U0NOBODY</span>, <span class="mention">@oncall</span> in <span class="mention">#incident-42</span>',
    );
    expect(mrkdwnToHtml('<!here>', context)).toBe('<span class="mention">@here</span>');
  });

  it('shows links with their label and opens them in a new tab', () => {
    expect(mrkdwnToHtml('<https://example.com/a?b=1&amp;c=2|the doc>', context)).toBe(
      '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">the doc</a>',
    );
  });

  it('formats <!date^…> tokens in the reader’s time zone and falls back on a bad one', () => {
    expect(mrkdwnToHtml('<!date^1764111600^{date_short} at {time}|fallback>', context)).toBe(
      '<time datetime="2025-11-25T23:00:00.000Z" title="2025-11-25T23:00:00.000Z">Nov 25, 2025 at 11:00 PM</time>',
    );
    expect(mrkdwnToHtml('<!date^soon^{date}|the fallback>', context)).toBe('the fallback');
  });

  it('keeps escaped text as text: no HTML, no link and no mention comes out of it', () => {
    const hostile = '&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &lt;https://evil.example|click&gt; " \' &amp;';
    expect(mrkdwnToHtml(hostile, context)).toBe('&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &lt;https://evil.example|click&gt; &quot; &#39; &amp;');
  });

  it('opens a permalink of the workspace in the page, at its channel', () => {
    const inPage = { ...context, channelOfLink: (url: string) => (url.startsWith('https://sandbox.slack.local/archives/C0INCIDENT42/') ? 'C0INCIDENT42' : undefined) };
    expect(mrkdwnToHtml('<https://sandbox.slack.local/archives/C0INCIDENT42/p1|open the card>', inPage)).toBe('<a href="#C0INCIDENT42" data-channel="C0INCIDENT42">open the card</a>');
  });

  it('never lets a link target run script', () => {
    expect(mrkdwnToHtml('<javascript:alert(1)|x>', context)).toBe('x');
  });
});

describe('Block Kit as the sandbox page shows it', () => {
  it('carries what a click needs on each button and overflow option, and the confirm dialog texts', () => {
    const html = blocksToHtml(
      [
        {
          type: 'actions',
          block_id: 'decide',
          elements: [
            { type: 'button', action_id: 'approve', value: '{"a":"ap1"}', style: 'primary', text: { type: 'plain_text', text: 'Approve' }, confirm: { title: { type: 'plain_text', text: 'Sure?' }, text: { type: 'mrkdwn', text: '*prod* write' }, confirm: { type: 'plain_text', text: 'Approve' }, deny: { type: 'plain_text', text: 'Back' } } },
            { type: 'overflow', action_id: 'more', options: [{ text: { type: 'plain_text', text: 'Approve with comment…' }, value: 'comment:1' }] },
          ],
        },
      ],
      context,
    );
    expect(html).toContain('data-action-id="approve" data-block-id="decide" data-value="{&quot;a&quot;:&quot;ap1&quot;}"');
    expect(html).toContain('class="bk-button bk-button-primary"');
    expect(html).toContain('data-confirm="{&quot;title&quot;:&quot;Sure?&quot;,&quot;text&quot;:&quot;&lt;b&gt;prod&lt;/b&gt; write&quot;,&quot;confirm&quot;:&quot;Approve&quot;,&quot;deny&quot;:&quot;Back&quot;}"');
    expect(html).toContain('<option value="comment:1">Approve with comment…</option>');
  });

  it('renders header, fields, context, divider and modal inputs, and names a block it does not know', () => {
    const html = blocksToHtml(
      [
        { type: 'header', text: { type: 'plain_text', text: '<b>Approval</b> :key:' } },
        { type: 'section', fields: [{ type: 'mrkdwn', text: '*Risk*\nprod' }] },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'Policy `7f3d`' }] },
        { type: 'divider' },
        { type: 'input', block_id: 'why', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'text', multiline: true, max_length: 500 } },
        { type: 'video' },
      ],
      context,
    );
    expect(html).toBe(
      '<div class="bk-header">&lt;b&gt;Approval&lt;/b&gt; 🔑</div>' +
        '<div class="bk-section"><div class="bk-section-body"><div class="bk-fields"><div class="bk-field"><b>Risk</b><br>prod</div></div></div></div>' +
        '<div class="bk-context"><span class="bk-context-text">Policy <code>7f3d</code></span></div>' +
        '<hr class="bk-divider">' +
        '<label class="bk-input" data-block-id="why"><span class="bk-label">Reason</span><textarea name="why/text" maxlength="500" required rows="4"></textarea><span class="bk-error" data-error-for="why"></span></label>' +
        '<div class="bk-unknown">[video block]</div>',
    );
  });
});
