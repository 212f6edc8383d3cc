// Every text of the workspace in Chinese (first) and English. `t(key)` picks the user's
// language; `pick("中文 / English")` does the same for names that come from the diagrams
// and forms, which process owners write as "中文 / English".

const STRINGS = {
  app_name: ["入职召回", "Offer Recall"],
  skip_to_main: ["跳到主要内容", "Skip to main content"],
  main_nav: ["主导航", "Main navigation"],
  nav_inbox: ["待办", "Inbox"],
  nav_new_decline: ["记录未到岗", "Record a decline"],
  nav_candidates: ["候选人", "Candidates"],
  nav_processes: ["流程", "Processes"],
  switch_lang: ["English", "中文"],
  switch_lang_label: ["Switch to English", "切换到中文"],
  sign_out: ["退出", "Sign out"],
  signed_in_as: ["当前用户", "Signed in as"],
  loading: ["加载中…", "Loading…"],
  simulated_clock: ["模拟时钟", "Simulated clock"],
  role_admin: ["管理员", "admin"],
  role_process_owner: ["流程负责人", "process owner"],
  role_hr: ["HR", "HR"],
  role_manager: ["用人经理", "hiring manager"],
  role_integrator: ["集成账号", "integrator"],

  // sign-in
  signin_title: ["登录", "Sign in"],
  signin_intro: ["用管理员为你创建的用户名和密码登录。", "Sign in with the user name and password your administrator created for you."],
  username_label: ["用户名", "User name"],
  password_label: ["密码", "Password"],
  signin_or_token: ["管理员和集成账号也可以粘贴 API 令牌(recall users add)。令牌只保存在本浏览器标签页中,关闭即失效。",
    "Administrators and integrators may paste an API token instead (recall users add). It is kept in this browser tab only and forgotten when the tab closes."],
  token_label: ["API 令牌", "API token"],
  signin_missing: ["请输入用户名和密码,或 API 令牌", "Enter your user name and password, or an API token"],
  signin_wrong: ["用户名或密码错误", "The user name or password is wrong"],
  signin_locked: ["登录失败次数过多,请 {minutes} 分钟后再试", "Too many failed sign-ins: try again in {minutes} minute(s)"],
  signin_link: ["正在用登录链接登录…", "Signing in with your sign-in link…"],
  link_invalid: ["登录链接无效:已用过、已过期或不存在。请向管理员要一个新的。", "This sign-in link is not valid (used, expired or unknown): ask your administrator for a new one."],
  signin_wecom: ["使用企业微信登录", "Sign in with WeCom"],
  signin_wecom_refused: ["企业微信登录没有成功:请再试一次;仍不行时,请管理员在用户目录中填写你的企业微信账号。",
    "Signing in with WeCom did not work: try again; if it still fails, ask an admin to add your WeCom account to the user directory."],
  signin_button: ["登录", "Sign in"],
  token_invalid: ["令牌无效或已被替换", "This token is unknown or was replaced"],
  signed_out: ["已退出", "Signed out"],
  no_workspace_role: ["此角色没有待办任务;可以查看流程。", "This role has no task inbox; you can view the processes."],

  // my account and password (pages/account.js)
  nav_account: ["我的账户", "My account"],
  account_title: ["我的账户", "My account"],
  account_who: ["我是谁", "Who I am"],
  account_display_name: ["显示名称", "Display name"],
  account_role: ["角色", "Role"],
  account_continue: ["继续工作", "Go on to work"],
  password_change_title: ["修改密码", "Change my password"],
  password_first_title: ["设置密码", "Set a password"],
  password_first_intro: ["你是用一次性登录链接进来的,链接已失效。请设置一个密码,以后用用户名和密码登录。",
    "You came in with a one-time sign-in link, which is now used up. Set a password to sign in with your user name from now on."],
  password_others_end: ["修改后,你在其他浏览器和设备上的登录会退出,这里保持登录。",
    "Once changed, you are signed out in your other browsers and devices; you stay signed in here."],
  password_current: ["当前密码", "Current password"],
  password_new: ["新密码", "New password"],
  password_again: ["再次输入新密码", "New password again"],
  password_rules: ["至少 {min} 个字符;可以用一句好记的话。", "At least {min} characters; a sentence you remember works well."],
  password_change: ["修改密码", "Change password"],
  password_set: ["设置密码", "Set password"],
  password_current_missing: ["请输入当前密码", "Enter your current password"],
  password_current_wrong: ["当前密码不正确", "The current password is wrong"],
  password_same: ["新密码不能与当前密码相同", "The new password must differ from the current one"],
  password_mismatch: ["两次输入的新密码不一致", "The two new passwords differ"],
  password_changed: ["密码已修改", "Password changed"],
  password_changed_others: ["密码已修改;其他 {n} 处登录已退出", "Password changed; {n} other sign-in(s) ended"],
  notify_title: ["通知", "Notifications"],
  notify_intro: ["有任务交给你、跟进到期、提醒或超时时，系统会通知你（只提任务和链接，不含候选人信息）。",
    "You are told when a task is given to you, a follow-up is due, a reminder or a deadline comes (the task and a link only, never the candidate)."],
  notify_channel: ["通知方式", "Notify me by"],
  notify_channel_wecom: ["企业微信应用消息", "WeCom app message"],
  notify_channel_email: ["邮件", "Email"],
  notify_channel_none: ["不通知", "No notifications"],
  notify_unreachable: ["（未设置：请管理员在用户目录中添加你的企业微信 ID 或邮箱，并配置渠道）",
    "(not available: an admin adds your WeCom id or email to the directory and sets up the channel)"],
  notify_mode: ["发送时间", "When"],
  notify_mode_immediate: ["立即", "At once"],
  notify_mode_digest: ["每日汇总", "One daily summary"],
  notify_digest_hour: ["汇总时间（点）", "Summary at (hour)"],
  notify_language: ["通知语言", "Language of the messages"],
  notify_group_tasks: ["我所在队列的新任务也通知我", "Also tell me of new tasks in my groups' queues"],
  notify_save: ["保存通知设置", "Save notification settings"],
  notify_saved: ["通知设置已保存", "Notification settings saved"],

  // email nobody was matched to (pages/mail.js, HR and admins)
  nav_mail: ["待归属邮件", "Unmatched email"],
  mail_title: ["待归属的邮件", "Email to assign"],
  mail_intro: ["系统读取回复邮箱时,没能对应到候选人的邮件(不是回复我们发出的邮件,且发件地址不属于唯一一位候选人)。找到候选人并归属后,邮件会记为该候选人的回复,案件随之推进。",
    "Mail the system read from the reply mailbox but could not match to a candidate (not an answer to a mail we sent, and the sender's address is not exactly one candidate's). Assign it and it is recorded as that candidate's reply, moving their case."],
  mail_empty: ["没有待归属的邮件。", "No email waits to be assigned."],
  mail_no_subject: ["(无主题)", "(no subject)"],
  mail_from: ["发件人", "From"],
  mail_sent_at: ["发送时间", "Sent"],
  mail_find: ["查找候选人", "Find the candidate"],
  mail_search: ["查找", "Search"],
  mail_nobody: ["没有找到“{q}”", "Nobody found for “{q}”"],
  mail_assign_to: ["归属给 {name}", "Assign to {name}"],
  mail_assigned: ["已记为 {name} 的回复", "Recorded as {name}'s reply"],
  send_reason_bounced: ["邮件被退回,地址无效", "the mail bounced: bad address"],
  send_reason_tls: ["与邮件服务器的加密连接失败,请管理员检查设置", "the secure connection to the mail server failed: an admin checks the settings"],
  send_reason_rejected: ["邮件服务器拒收", "the mail server rejected it"],

  // channel settings (pages/channels.js, admin) and sending from a task (pages/send.js)
  nav_channels: ["渠道设置", "Channels"],
  channels_title: ["渠道设置", "Channel settings"],
  channels_intro: ["配置企业微信和邮件,HR 才能在任务里确认后直接发送。密钥加密保存,保存后不再显示;留空表示保持原值。",
    "Set up WeCom and email so that HR can send from a task after confirming. Secrets are stored encrypted and never shown again; leave one empty to keep it."],
  channels_none: ["没有安装任何渠道。", "No channel is installed."],
  channel_state_new: ["尚未配置", "Not configured yet"],
  channel_state_on: ["已启用 · {who} 于 {when} 修改", "Enabled · changed by {who} on {when}"],
  channel_state_off: ["已停用 · {who} 于 {when} 修改", "Disabled · changed by {who} on {when}"],
  channel_monthly_limit: ["每位候选人每个自然月最多 {n} 条", "At most {n} messages per candidate per calendar month"],
  channel_secret_set: ["已设置 {hint}", "set {hint}"],
  channel_secret_unset: ["未设置", "not set"],
  channel_secret_keep: ["留空保持原值", "leave empty to keep"],
  channel_enabled: ["启用(HR 可以通过它发送)", "Enabled (HR may send through it)"],
  channel_save: ["保存", "Save"],
  channel_saved: ["渠道设置已保存", "Channel settings saved"],
  channel_test: ["测试连接", "Test connection"],
  channel_testing: ["测试中…", "Testing…"],
  channel_test_ok: ["连接成功:{message}", "Connected: {message}"],
  channel_test_failed: ["连接失败:{message}", "Connection failed: {message}"],
  sends_title: ["发送", "Send"],
  send_via: ["通过{channel}发送", "Send via {channel}"],
  send_via_wecom: ["通过企业微信发送", "Send via WeCom"],
  send_via_email: ["通过邮件发送", "Send via email"],
  send_dialog_title: ["确认通过{channel}发送", "Confirm the send via {channel}"],
  send_note: ["这是最终发出的内容,请确认。", "This is the text that goes out: check it."],
  send_note_wecom: ["确认后,企业微信会在你自己的客户端里再请你确认一次;你确认前候选人收不到。",
    "After this, WeCom asks you to confirm once more in your own WeCom client; the candidate gets nothing before you do."],
  send_note_email: ["确认后立即以邮件发出,候选人的回复会自动记录。", "The email goes out once you confirm; the candidate's reply is recorded by itself."],
  send_subject: ["邮件主题", "Subject"],
  send_default_subject: ["好久不见", "It has been a while"],
  send_text: ["消息内容", "Message"],
  send_text_missing: ["请填写要发送的内容", "Write the message to send"],
  send_confirm: ["确认发送", "Send"],
  send_cancel: ["取消", "Cancel"],
  send_queued: ["已提交,正在通过{channel}发送", "Queued: sending via {channel}"],
  send_done: ["已通过{channel}发送", "Sent via {channel}"],
  send_quota: ["{channel}:本月已发 {used}/{limit} 条,{date} 重置", "{channel}: {used} of {limit} this month, resets on {date}"],
  send_retry: ["重新发送", "Send again"],
  send_retried: ["已重新提交", "Queued again"],
  send_mark_sent: ["我已手动发送", "I sent it myself"],
  send_marked: ["已记为手动发送", "Recorded as sent by hand"],
  send_status_pending: ["排队中", "queued"],
  send_status_sending: ["发送中", "sending"],
  send_status_awaiting_confirmation: ["等待你在企业微信中确认", "awaiting your confirmation in WeCom"],
  send_status_sent: ["已发送", "sent"],
  send_status_failed: ["发送失败", "failed"],
  send_status_cancelled: ["已取消", "cancelled"],
  send_reason_gave_up: ["多次重试仍失败", "gave up after several tries"],
  send_reason_not_contact: ["对方不是你的企业微信客户", "not your WeCom contact"],
  send_reason_quota: ["已达企业微信每月上限", "WeCom's monthly limit reached"],
  send_reason_bad_address: ["地址无效", "bad address"],
  send_reason_auth: ["渠道认证失败,请管理员检查设置", "the channel refused our credentials: an admin checks the settings"],
  send_reason_unsent: ["你没有在企业微信中确认", "not confirmed in WeCom"],
  send_reason_not_configured: ["渠道未配置", "channel not configured"],
  send_reason_consent_withdrawn: ["候选人已撤回同意", "consent withdrawn"],
  send_reason_consent_missing: ["候选人没有人才库同意", "no talent-pool consent"],
  send_reason_erased: ["候选人数据已删除", "the candidate was erased"],
  send_reason_by_hand: ["手动发送", "sent by hand"],

  // API tokens (pages/tokens.js, admin)
  tokens_title: ["API 令牌", "API tokens"],
  nav_tokens: ["API 令牌", "API tokens"],
  tokens_intro: ["为外部系统(如 ATS)签发令牌。每个用户可以有多个令牌:先签发新令牌、部署,再吊销旧令牌,轮换不中断。",
    "Tokens for other systems (an ATS, say). A user may have several: issue the new one, deploy it, then revoke the old one — rotation without a gap."],
  tokens_user: ["用户", "User"],
  tokens_of: ["{user} 的令牌", "Tokens of {user}"],
  tokens_none: ["该用户没有令牌。", "This user has no token."],
  token_name: ["名称", "Name"],
  token_name_hint: ["同一用户下唯一;字母、数字、'.'、'_'、'-',例如 ats-2027-01。", "Unique for the user; letters, digits, '.', '_', '-', e.g. ats-2027-01."],
  token_name_taken: ["该用户已有同名令牌。", "The user already has a token of this name."],
  token_scope: ["权限", "Scope"],
  token_scope_write: ["读写(该角色允许的一切)", "write (what the role may do)"],
  token_scope_read: ["只读(仅 GET)", "read (GET only)"],
  token_created: ["签发", "Issued"],
  token_by: ["由 {who}", "by {who}"],
  token_expires: ["到期日(可选)", "Expires (optional)"],
  token_expires_hint: ["当天 23:59 失效;不填则永不过期。", "Stops at 23:59 that day; leave empty for never."],
  token_never: ["永不过期", "never"],
  token_state: ["状态", "State"],
  token_valid: ["有效", "valid"],
  token_expired: ["已过期", "expired"],
  token_actions: ["操作", "Actions"],
  token_revoke: ["吊销", "Revoke"],
  token_revoke_named: ["吊销令牌 {name}", "Revoke token {name}"],
  token_revoke_confirm: ["吊销 {user} 的令牌“{name}”?使用它的系统将立即无法访问。", "Revoke {user}'s token “{name}”? Systems using it are refused from now on."],
  token_revoked: ["令牌“{name}”已吊销。", "Token “{name}” revoked."],
  token_new: ["为 {user} 签发新令牌", "New token for {user}"],
  token_create: ["签发", "Issue"],
  token_secret_title: ["新令牌:{user} / {name}", "New token: {user} / {name}"],
  token_secret_once: ["请立即复制并妥善保存:令牌只显示这一次,离开本页后无法再查看。它与密码同等重要,不要通过聊天或邮件明文发送。",
    "Copy it now and keep it safe: the token is shown this once and cannot be seen again after you leave this page. Treat it like a password; do not send it in chat or email."],
  token_copied: ["已复制令牌", "Token copied"],
  user_wecom_title: ["{user} 的企业微信账号", "WeCom account of {user}"],
  user_wecom_id: ["企业微信 UserID", "WeCom user id"],
  user_wecom_hint: ["企业微信管理后台「通讯录」中成员的账号(UserID)。用于以本人身份发送企业微信消息、接收通知和企业微信登录;留空即清除。",
    "The member's account (UserID) under Contacts in the WeCom admin console. Used to send WeCom messages as this person, for their notifications and for signing in with WeCom; leave empty to clear."],
  user_wecom_save: ["保存", "Save"],
  user_wecom_saved: ["已保存 {user} 的企业微信 UserID", "Saved the WeCom user id of {user}"],
  user_wecom_cleared: ["已清除 {user} 的企业微信 UserID", "Cleared the WeCom user id of {user}"],
  user_wecom_invalid: ["1–64 个字母、数字或 _ - . @", "1–64 letters, digits, _ - . or @"],

  // webhooks (pages/webhooks.js, admin)
  webhooks_title: ["Webhook 推送", "Webhooks"],
  nav_webhooks: ["Webhook", "Webhooks"],
  webhooks_intro: ["把事件(案件结束、任务创建等,只含编号)签名后推送给外部系统。由后台 worker 发送,失败会按指数退避重试。",
    "Push events (a case ended, a task was created…, ids only) to another system, signed. The worker sends them and retries failures with exponential backoff."],
  webhooks_list: ["已有的 Webhook", "Webhooks"],
  webhook_new: ["新建 Webhook", "New webhook"],
  webhook_create: ["创建", "Create"],
  webhook_url: ["接收地址", "Receiver URL"],
  webhook_url_hint: ["建议使用 https://;地址中不能包含用户名或密码。", "Prefer https://; no user name or password in the URL."],
  webhook_kinds: ["事件类型", "Event kinds"],
  webhook_kinds_missing: ["至少选择一种事件类型", "Choose at least one event kind"],
  webhook_description: ["说明(可选)", "Description (optional)"],
  webhook_secret_title: ["签名密钥", "Signing secret"],
  webhook_secret_once: ["请立即复制保存:密钥只显示这一次,用于校验 Recall-Signature。", "Copy it now: the secret is shown this once; it verifies Recall-Signature."],
  webhook_state: ["状态", "State"],
  webhook_active: ["启用中", "Active"],
  webhook_disabled: ["已停用", "Disabled"],
  webhook_disable: ["停用", "Disable"],
  webhook_enable: ["重新启用", "Enable again"],
  webhook_disabled_done: ["Webhook 已停用。", "Webhook disabled."],
  webhook_enabled_done: ["Webhook 已重新启用。", "Webhook enabled again."],
  webhook_last_success: ["最近成功", "Last success"],
  webhook_failures: ["连续失败", "Failures in a row"],
  webhook_actions: ["操作", "Actions"],
  webhook_log: ["推送记录:{url}", "Delivery log: {url}"],
  webhook_log_empty: ["还没有推送。", "Nothing delivered yet."],
  webhook_event: ["事件", "Event"],
  webhook_status: ["结果", "Result"],
  webhook_attempts: ["尝试次数", "Attempts"],
  webhook_answer: ["最近应答", "Last answer"],
  webhook_redeliver: ["重新推送", "Redeliver"],
  webhook_redelivered: ["已安排重新推送。", "Redelivery scheduled."],
  webhook_delivery_pending: ["等待发送", "Pending"],
  webhook_delivery_delivered: ["已送达", "Delivered"],
  webhook_delivery_failed: ["已放弃", "Given up"],

  // inbox
  inbox_title: ["我的待办", "My inbox"],
  queues: ["队列", "Queues"],
  queue_all: ["全部", "All"],
  queue_mine: ["分配给我", "Assigned to me"],
  queue_group: ["{group} 组", "Group {group}"],
  queue_overdue: ["已逾期", "Overdue"],
  queue_user: ["{user} 的", "{user}'s"],
  col_candidate: ["候选人", "Candidate"],
  col_step: ["步骤", "Step"],
  col_waited: ["已等待", "Waiting"],
  col_due: ["截止", "Due"],
  col_queue: ["队列", "Queue"],
  overdue: ["已逾期", "Overdue"],
  due_follow_up: ["跟进日", "follow-up day"],
  no_due: ["—", "—"],
  inbox_empty: ["没有待办任务。", "Nothing to do."],
  inbox_filtered_empty: ["这个队列里没有任务。", "No task in this queue."],
  inbox_count: ["共 {n} 项,{overdue} 项逾期", "{n} task(s), {overdue} overdue"],
  inbox_truncated: ["只显示前 500 项。", "Only the first 500 are shown."],
  open_task: ["打开任务", "Open task"],

  // task page
  task_meta: ["任务信息", "About this task"],
  case_label: ["案件", "Case"],
  step_label: ["步骤", "Step"],
  created_label: ["开始于", "Since"],
  due_label: ["截止", "Due"],
  assignee_label: ["负责人", "Assignee"],
  group_label: ["候选组", "Group"],
  unassigned: ["未认领", "unclaimed"],
  completed_by_label: ["完成人", "Completed by"],
  actor_engine: ["系统", "System"],
  actor_system: ["系统", "System"],
  actor_worker: ["定时任务", "Scheduler"],
  claim: ["认领", "Claim"],
  claimed: ["已认领", "Claimed"],
  complete: ["完成任务", "Complete task"],
  completing: ["提交中…", "Submitting…"],
  back_to_inbox: ["返回待办", "Back to inbox"],
  view_diagram: ["查看流程图", "View diagram"],
  task_completed: ["已完成「{title}」", "Completed “{title}”"],
  next_task: ["下一个任务:{title}", "Next task: {title}"],
  all_done: ["待办已全部完成。", "Your inbox is empty."],
  form_has_errors: ["有 {n} 处需要修改,未提交任何内容:", "{n} field(s) need a change; nothing was submitted:"],
  stale_task: ["打开任务后案件已发生变化(例如定时器或消息)。请重新加载后再提交。",
    "The case changed after you opened this task (a timer or a message). Reload it and submit again."],
  reload: ["重新加载", "Reload"],
  task_not_open: ["这个任务已完成或已取消。", "This task was already completed or cancelled."],
  task_done_readonly: ["此任务状态:{status}。", "This task is {status}."],
  forbidden: ["你无权执行此操作。", "You are not allowed to do this."],
  not_found: ["找不到该内容。", "Not found."],
  error_generic: ["出错了:{detail}", "Something went wrong: {detail}"],
  read_only_owner: ["流程负责人可以查看任务,但不能提交。", "Process owners can read tasks but not complete them."],
  required_mark: ["必填", "required"],

  // candidate context beside a task
  context_title: ["候选人档案", "Candidate archive"],
  suggested_message: ["推荐消息", "Suggested message"],
  suggestion_hint: ["系统不会自动发送。请复制、按候选人情况修改后自行发送,再把实际发送的内容记录在表单里。",
    "Nothing is sent automatically. Copy it, make it personal, send it yourself, then record what you sent in the form."],
  copy: ["复制", "Copy"],
  copied: ["已复制推荐消息", "Suggested message copied"],
  copy_failed: ["无法自动复制,请手动选择文字复制。", "Could not copy automatically; select the text and copy it."],
  use_suggestion: ["填入消息框", "Put it in the message box"],
  suggestion_error: ["推荐消息生成失败:{error}", "The suggestion could not be prepared: {error}"],
  suggestion_facts: ["消息中使用的岗位信息", "Role facts in this message"],
  fact_as_of: ["数据截至 {date}", "figures as of {date}"],
  fact_no_date: ["未注明日期", "undated"],
  fact_stale: ["已过期,发送前请核实", "stale: check before sending"],
  suggestion_missing: ["缺少的岗位信息(补充后刷新本页)", "Missing role facts (add them, then reload this page)"],
  add_fact: ["去补充:{fact}", "Add: {fact}"],
  decline_reason: ["未到岗原因", "Decline reason"],
  decline_detail: ["原因说明", "Details"],
  needs: ["核心需求", "Needs"],
  open_questions: ["未解答的疑问", "Open questions"],
  past_messages: ["往来消息", "Messages so far"],
  no_messages: ["还没有消息。", "No messages yet."],
  sent: ["已发送", "Sent"],
  received: ["收到回复", "Received"],
  talking_points: ["HR 的沟通要点", "HR's talking points"],
  contact: ["联系方式", "Contact"],
  phone: ["电话", "Phone"],
  email: ["邮箱", "Email"],
  wecom: ["企业微信", "WeCom"],
  none_recorded: ["未记录", "none recorded"],
  open_candidate: ["查看完整档案", "Open the full archive"],

  // candidates
  candidates_title: ["候选人", "Candidates"],
  search: ["搜索", "Search"],
  search_label: ["关键词", "Keywords"],
  search_hint: ["在需求、疑问、原因说明、备注和新动态中查找。", "Searched in needs, open questions, decline details, notes and signals."],
  due_this_week: ["本周需跟进", "Follow-up due this week"],
  candidates_found: ["共 {n} 位候选人", "{n} candidate(s)"],
  col_next_follow_up: ["下次跟进", "Next follow-up"],
  follow_up_open: ["待发送", "To send"],
  recorded_on: ["记录于", "recorded"],
  find_hint: ["姓名、电话、邮箱或关键词", "Name, phone, email or keywords"],
  reason_filter: ["原因", "Reason"],
  any_reason: ["全部原因", "Any reason"],
  no_candidates: ["没有找到候选人。", "No candidate found."],
  col_name: ["姓名", "Name"],
  col_role: ["应聘岗位", "Role"],
  col_reason: ["最近原因", "Latest reason"],
  col_tags: ["标签", "Tags"],
  candidate_title: ["候选人:{name}", "Candidate: {name}"],
  role_applied: ["应聘岗位", "Role applied for"],
  tags: ["标签", "Tags"],
  declines: ["未到岗记录", "Declines"],
  decline_date: ["未到岗日期", "Decline date"],
  role: ["岗位", "Role"],
  hiring_manager: ["用人经理", "Hiring manager"],
  interview_trail: ["面试记录", "Interview trail"],
  round_n: ["第 {n} 轮", "Round {n}"],
  tl_created: ["加入人才档案", "Added to the archive"],
  tl_declined: ["未到岗:{reason}", "Declined: {reason}"],
  tl_consent_until: ["同意进入人才库({scope}),有效期至 {date}", "Talent-pool consent ({scope}) until {date}"],
  tl_consent_withdrawn: ["撤回人才库同意", "Talent-pool consent withdrawn"],
  tl_consent_refused: ["未同意进入人才库", "No talent-pool consent"],
  tl_signal: ["新动态:{kind}", "Signal: {kind}"],
  tl_task: ["完成:{name}", "Done: {name}"],
  tl_timer: ["到期:{name}", "Due: {name}"],
  tl_message: ["收到消息:{name}", "Message: {name}"],
  tl_case_ended: ["案件结束:{name}", "Case ended: {name}"],
  tl_case_cancelled: ["案件已取消", "Case cancelled"],
  tl_contact_viewed: ["用人经理查看了联系方式", "Contact details read by the hiring manager"],
  notes: ["备注", "Notes"],
  consent: ["人才库同意", "Talent-pool consent"],
  consent_granted: ["同意", "Granted"],
  consent_not_granted: ["未同意", "Not granted"],
  consent_scope: ["范围", "Scope"],
  consent_source: ["来源", "Source"],
  consent_expires: ["有效期至", "Expires"],
  cases: ["案件", "Cases"],
  no_cases: ["没有案件。", "No case."],
  timeline: ["时间线", "Timeline"],
  messages: ["消息", "Messages"],
  record_decline_for: ["为此候选人记录未到岗", "Record a decline for this candidate"],
  // merging a duplicate record (pages/merge.js)
  merge_link: ["合并重复档案", "Merge a duplicate record"],
  merge_title: ["合并重复档案:{name}", "Merge a duplicate record into {name}"],
  merge_intro: ["这份档案保留;选中的另一份档案被并入后删除:它的未到岗记录、案件、消息、新动态和授权历史都移到这里,空着的资料由它补上。",
    "This record stays; the record you choose is merged into it and then deleted: its declines, cases, messages, signals and consent history move here, and empty fields here are filled from it."],
  merge_back: ["返回候选人", "Back to the candidate"],
  merge_pick: ["另一份档案", "The other record"],
  merge_find: ["查找另一份档案", "Find the other record"],
  merge_find_hint: ["姓名、电话或邮箱", "Name, phone or email"],
  merge_suggestions: ["可能重复的档案(同名、同电话或同邮箱):", "Possible duplicates (same name, phone or email):"],
  merge_no_suggestions: ["没有找到可能重复的档案,请在上面查找。", "No likely duplicate found: search above."],
  merge_results: ["查找结果:", "Results:"],
  merge_none_found: ["没有找到其他档案。", "No other record found."],
  merge_choose: ["选择", "Choose"],
  merge_compare: ["对比两份档案", "Both records side by side"],
  merge_explain: ["“{other}”将并入“{name}”。", "“{other}” will be merged into “{name}”."],
  merge_field: ["项目", "Field"],
  merge_this: ["这份(保留)", "This record (stays)"],
  merge_other: ["另一份(并入)", "The other (merged in)"],
  merge_after: ["合并后", "After merging"],
  merge_signals: ["新动态", "Signals"],
  merge_no_consent: ["未记录", "Not recorded"],
  merge_consent_rule: ["人才库同意取更严格的一份:任一份拒绝或撤回则不授权;两份都同意时取较窄的范围和较早的到期日。", "Talent-pool consent: the stricter one holds — not granted if either record refused or withdrew; with two grants, the narrower scope and the earlier expiry."],
  merge_moves: ["合并后另一份档案的链接会转到这里。此操作会记入审计记录,无法撤销。",
    "Afterwards, links to the other record lead here. The merge is audited and cannot be undone."],
  merge_confirm: ["确认合并", "Merge the records"],
  merge_done: ["已合并到 {name}", "Merged into {name}"],
  merged_redirect: ["这份档案已合并到另一份,已为你打开合并后的档案。", "This record was merged into another one: here is the merged record."],
  channel: ["渠道", "Channel"],

  // new decline
  new_decline_title: ["记录未到岗,开始召回案件", "Record a decline and start a recall case"],
  new_decline_intro: ["记录候选人为何没有到岗。提交后会开始一个召回案件,并打开“记录未到岗原因”任务供你确认。",
    "Record why the candidate did not come. Submitting starts a recall case and opens the “Archive decline” task for you to confirm."],
  candidate_section: ["候选人", "Candidate"],
  find_candidate: ["查找已有候选人", "Find an existing candidate"],
  find: ["查找", "Find"],
  select: ["选择", "Select"],
  selected_candidate: ["已选择:{name}", "Selected: {name}"],
  change: ["更换", "Change"],
  or_new_candidate: ["或填写新候选人", "Or enter a new candidate"],
  decline_section: ["未到岗情况", "The decline"],
  consent_section: ["人才库同意", "Talent-pool consent"],
  lang_section: ["消息语言", "Message language"],
  submit_decline: ["记录并开始案件", "Record and start the case"],
  decline_recorded: ["已记录,请确认档案", "Recorded; please confirm the archive"],

  // case / diagram
  case_title: ["召回案件", "Recall case"],
  status: ["状态", "Status"],
  end_event: ["结束于", "Ended at"],
  version: ["版本", "Version"],
  legend: ["图例", "Legend"],
  legend_done: ["已完成", "Completed"],
  legend_current: ["当前任务", "Current task"],
  legend_timer: ["等待定时器", "Waiting timer"],
  legend_message: ["等待消息", "Waiting for a message"],
  now_section: ["当前", "Now"],
  current_tasks: ["当前任务", "Current tasks"],
  waiting_timers: ["等待中的定时器", "Waiting timers"],
  waiting_messages: ["等待中的消息", "Waiting for messages"],
  due_at: ["到期 {when}", "due {when}"],
  nothing_waiting: ["无", "None"],
  history: ["历史", "History"],
  diagram_of: ["流程图:{name}", "Diagram: {name}"],
  diagram_alt: ["{name} 的 BPMN 流程图。已完成 {done} 个元素;当前:{current}。下方列表给出相同信息。",
    "BPMN diagram of {name}. {done} element(s) completed; now at: {current}. The list below gives the same information."],
  zoom_in: ["放大", "Zoom in"],
  zoom_out: ["缩小", "Zoom out"],
  zoom_fit: ["适应宽度", "Fit width"],
  diagram_failed: ["流程图无法显示:{error}", "The diagram could not be drawn: {error}"],
  not_allowed_case: ["你的角色不能查看案件详情。", "Your role cannot view case details."],
  processes_title: ["流程", "Processes"],
  col_process: ["流程", "Process"],
  col_version: ["最新版本", "Latest version"],
  col_deployed: ["部署于", "Deployed"],
  owner_view: ["各环节等待的案件数", "Cases waiting at each element"],
  active_cases: ["进行中的案件:{n}", "Active cases: {n}"],
  col_element: ["环节", "Element"],
  col_tasks: ["待办", "Tasks"],
  col_timers: ["定时器", "Timers"],
  col_messages: ["等消息", "Messages"],
  col_overdue: ["已到期", "Past due"],
  col_next_due: ["最近到期", "Next due"],
  cases_waiting: ["{n} 个案件在此等待", "{n} case(s) wait here"],

  yes: ["是", "Yes"],
  no: ["否", "No"],
  add_item: ["添加一项", "Add an item"],
  remove_item: ["删除第 {n} 项", "Remove item {n}"],
  item_n: ["第 {n} 项", "Item {n}"],
  choose: ["请选择…", "Choose…"],
  days: ["{n} 天", "{n} d"],
  hours: ["{n} 小时", "{n} h"],
  minutes: ["{n} 分钟", "{n} min"],
  just_now: ["刚刚", "just now"],

  // recording what the candidate did (pages/record.js)
  record_title: ["记录候选人的动态", "Record what the candidate did"],
  record_intro: ["候选人回复、电话里答复 offer、新员工反馈、离职或有新动态时,在这里记录;和系统对接使用同一个接口,记录人是你。",
    "When the candidate replies, answers an offer by phone, gives new-hire feedback, leaves or has news, record it here: the same API an integration uses, recorded as you."],
  record_what: ["发生了什么", "What happened"],
  record_candidate_replied: ["候选人回复了", "The candidate replied"],
  record_offer_response: ["候选人答复了 offer", "The candidate answered the offer"],
  record_new_hire_feedback: ["新员工反馈", "New-hire feedback"],
  record_employee_left: ["员工已离职", "The employee left"],
  record_signal: ["新动态(例如愿意重新考虑)", "A signal (e.g. open to work again)"],
  record_submit: ["记录", "Record"],
  record_reply: ["记录候选人的回复", "Record the candidate's reply"],
  goals_link_title: ["新员工目标页", "The new hire's goals page"],
  goals_link_help: ["目标已约定。把目标页链接发给新员工:他们能看到目标、进展和每月反馈,也能在页面上反馈问题(24 小时内回复)。链接只显示这一次,30 天后失效。",
    "The goals are agreed. Send the new hire the link to their goals page: they see their goals, progress and monthly feedback, and can raise a problem there (answered within 24 hours). The link is shown only now and expires after 30 days."],
  goals_link_send: ["发送目标页链接", "Send goals page link"],
  goals_link_copied: ["已复制目标页链接", "Goals page link copied"],
  goals_link_expires: ["有效期至 {when}", "Valid until {when}"],
  record_delivered: ["已记录,案件已收到。", "Recorded; the case has it."],
  record_buffered: ["已记录;目前没有案件在等待,案件开始等待时会收到。", "Recorded; no case waits for it yet, it is kept until one does."],
  record_signal_delivered: ["动态已记录,已为 HR 生成跟进任务。", "Signal recorded; HR has a task to react to it."],
  record_signal_recorded: ["动态已记录。", "Signal recorded."],
  record_not_awaited: ["现在没有案件在等待“{what}”:没有记录任何内容。", "No case is waiting for \u201c{what}\u201d now: nothing was recorded."],
  signal_received: ["新动态", "Signal"],

  // nothing typed is lost (keep.js)
  leave_unsaved: ["这个表单里有尚未提交的修改。确定要离开吗?", "This form has changes that were not submitted. Leave anyway?"],
  draft_restored: ["已恢复你上次未提交的草稿。", "Your unsent draft is back."],
  discard_draft: ["丢弃草稿", "Discard the draft"],

  // changing a candidate's record (pages/profile.js)
  edit_profile: ["编辑资料、标签、备注、需求和疑问", "Edit the profile, tags, notes, needs and questions"],
  save: ["保存", "Save"],
  profile_saved: ["资料已保存。", "Profile saved."],
  give_consent: ["记录人才库同意", "Record a talent-pool consent"],
  renew_consent: ["续期或修改人才库同意", "Renew or change the talent-pool consent"],
  consent_saved: ["同意已记录。", "Consent recorded."],
  withdraw_consent: ["撤回同意", "Withdraw consent"],
  withdraw_confirm: ["撤回人才库同意后,此人所有进行中的案件都会结束。确定撤回吗?", "Withdrawing the consent ends every running case of this person. Withdraw?"],
  consent_withdrawn: ["同意已撤回,进行中的案件已结束。", "Consent withdrawn; the running cases have ended."],
  privacy_title: ["隐私", "Privacy"],
  erase_hint: ["应本人要求删除:联系方式、备注、需求、疑问、面试记录、标签、未到岗说明、动态内容和同意来源都会清除,所有案件中的任务数据、消息和审计详情也会清除;进行中的案件会取消;只保留匿名统计。",
    "On the person's request: contact data, notes, needs, questions, interview trail, tags, decline details, signal texts and consent sources are blanked, and so are the task data, messages and audit details of every case; running cases are cancelled; only anonymous counts stay."],
  erase: ["删除此人的个人数据", "Erase this person"],
  erase_confirm: ["确定删除 {name} 的个人数据吗?联系方式、备注、需求、疑问、面试记录、标签、未到岗说明、动态内容、同意来源,以及所有案件中的任务数据、消息和审计详情都会被清除,进行中的案件会取消。此操作无法撤销。",
    "Erase {name}? Contact data, notes, needs, questions, interview trail, tags, decline details, signal texts, consent sources, and the task data, messages and audit details of every case are removed; running cases are cancelled. This cannot be undone."],
  erased: ["个人数据已删除({cases} 个进行中的案件已取消)。", "Erased ({cases} running cases cancelled)."],

  // possible duplicates when recording a decline for a new person (pages/decline.js)
  duplicates_found: ["档案里可能已经有这个人:", "The archive may already have this person:"],
  matched_on: ["相同的", "same"],
  match_phone: ["电话", "phone"], match_email: ["邮箱", "email"], match_name_and_role: ["姓名和岗位", "name and role"],
  use_existing: ["使用这条记录", "Use this record"],
  create_anyway: ["不是同一个人,新建记录", "Not the same person: create a new record"],

  // ending a case (pages/case.js)
  cancel_case: ["取消案件", "Cancel the case"],
  cancel_reason: ["取消原因", "Why it is cancelled"],
  cancel_confirm: ["取消后案件结束,等待中的任务和定时器都会取消。确定取消吗?", "Cancelling ends the case: its waiting tasks and timers are cancelled. Cancel it?"],
  case_cancelled: ["案件已取消。", "The case is cancelled."],

  // releasing and reassigning a task (pages/handover.js)
  release: ["释放任务", "Release"],
  released: ["任务已放回小组队列。", "The task is back in its group's queue."],
  reassign: ["转交", "Reassign"],
  reassign_to: ["转交给", "Give it to"],
  reassign_hint: ["任务所在小组的成员;用人经理的任务也可以交给其他经理。", "A member of the task's group; a hiring manager's task may also go to another manager."],
  reassigned: ["任务已转交给 {to}。", "The task now belongs to {to}."],

  err_required: ["必填", "Required"],
  err_enum: ["请选择一个有效选项", "Choose one of the options"],
  err_min_length: ["不能为空", "Must not be empty"],
  err_date: ["请输入有效日期", "Enter a valid date"],
  err_future: ["不能晚于现在", "Cannot be in the future"],
  err_type: ["格式不正确", "Wrong type of value"],
  err_minimum: ["数值太小", "Too small"],
  err_maximum: ["数值太大", "Too large"],
  err_min_items: ["至少需要一项", "Add at least one"],
  err_pattern: ["格式不正确", "Wrong format"],
};

// Decline reasons and follow-up stages are the deployed bundle's (GET /vocabulary, declared in
// workflows/vocabulary.json): filled by setVocabulary when the app starts, never listed here.
export const REASONS = {};
export const STAGES = {};
export const STAGE_TASKS = {};     // follow-up task element id -> stage key
export const MESSAGE_ROLES = {};   // e.g. reply -> ["candidate_replied"]
export const PROCESSES = {};       // process key -> its BPMN name [zh, en]
export const GROUPS = {};          // group (a lane's candidate group) -> [zh, en]

export function setVocabulary(words) {
  for (const map of [REASONS, STAGES, STAGE_TASKS, MESSAGE_ROLES, PROCESSES, GROUPS]) for (const key of Object.keys(map)) delete map[key];
  Object.assign(MESSAGE_ROLES, (words && words.messages) || {});
  for (const p of (words && words.processes) || []) PROCESSES[p.key] = [p.zh, p.en];
  for (const g of (words && words.groups) || []) GROUPS[g.key] = [g.zh, g.en];
  for (const k of (words && words.history_kinds) || []) HISTORY_KINDS[k.key] = [k.zh, k.en];   // the server's, every kind
  for (const r of (words && words.decline_reasons) || []) REASONS[r.key] = [r.zh, r.en];
  for (const s of (words && words.stages) || []) {
    STAGES[s.key] = [s.zh, s.en];
    STAGE_TASKS[s.task] = s.key;
  }
}

// The other enums the workspace shows outside a task form.
export const CONSENT_SCOPES = {
  same_role: ["仅同一岗位", "Same role only"], similar_roles: ["相似岗位", "Similar roles"], any_role: ["所有岗位", "Any role"],
};
export const CHANNELS = {
  wecom: ["企业微信", "WeCom"], email: ["邮件", "Email"], phone: ["电话", "Phone"], other: ["其他", "Other"],
};
export const STATUSES = {
  ready: ["待办", "ready"], completed: ["已完成", "completed"], cancelled: ["已取消", "cancelled"],
  running: ["进行中", "running"], waiting: ["等待中", "waiting"], error: ["出错", "error"],
};
export const MESSAGES = {
  candidate_replied: ["候选人回复", "Candidate replied"], offer_response: ["offer 答复", "Offer response"],
  new_hire_feedback: ["新员工反馈", "New-hire feedback"], employee_left: ["员工离职", "Employee left"],
  candidate_signal: ["候选人新动态", "Candidate signal"],
};
export const HISTORY_KINDS = {
  instance_started: ["案件开始", "Case started"], task_completed: ["任务完成", "Task completed"],
  element_completed: ["步骤完成", "Step done"], timer_fired: ["定时器到期", "Timer fired"],
  message_delivered: ["收到消息", "Message received"], task_claimed: ["任务认领", "Task claimed"],
  instance_cancelled: ["案件取消", "Case cancelled"], instance_completed: ["案件结束", "Case ended"],
  instance_error: ["出错", "Error"], instance_retried: ["重试", "Retried"],
  task_released: ["任务释放", "Task released"], task_reassigned: ["任务转交", "Task reassigned"],
  channel_send_requested: ["消息已确认,排队发送", "Message confirmed, queued to send"],
  channel_send_awaiting: ["通过企业微信发送,等待确认", "Sent via WeCom, awaiting confirmation"],
  channel_send_sent: ["消息已发出", "Message sent"], channel_send_failed: ["消息发送失败", "Message failed"],
  channel_send_cancelled: ["消息已取消", "Message cancelled"], channel_send_retrying: ["发送暂时失败,将重试", "Send failed for now, retrying"],
  channel_send_retried: ["消息重新发送", "Message sent again"], channel_sends_recorded: ["发送结果已记入任务", "Sends recorded with the task"],
};

const LANG_KEY = "recall.lang";
let current = (() => {
  try { return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh"; } catch { return "zh"; }
})();

export function lang() { return current; }
export function locale() { return current === "en" ? "en-GB" : "zh-CN"; }

export function setLang(value) {
  current = value === "en" ? "en" : "zh";
  try { localStorage.setItem(LANG_KEY, current); } catch { /* private mode: keep it for this page */ }
  document.documentElement.lang = current === "en" ? "en" : "zh-CN";
}

export function t(key, vars = {}) {
  const entry = STRINGS[key];
  let text = entry ? entry[current === "en" ? 1 : 0] : key;
  for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
  return text;
}

export function label(map, key) {
  const entry = map[key];
  return entry ? entry[current === "en" ? 1 : 0] : (key ?? "");
}

const CJK = /[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]/;

// "中文 / English" -> the part in the user's language. A text may contain " / " inside one
// language ("A / B / C。 / A / B / C."): the English part is the longest tail without CJK.
export function pick(text) {
  if (typeof text !== "string" || !text.includes(" / ")) return text ?? "";
  const parts = text.split(" / ");
  let split = parts.length;
  while (split > 0 && !CJK.test(parts[split - 1])) split -= 1;
  if (split === 0 || split === parts.length) return text;   // one language only
  const zh = parts.slice(0, split).join(" / ");
  const en = parts.slice(split).join(" / ");
  return current === "en" ? en : zh;
}

// Server-side jsonschema / marshmallow messages -> a short bilingual message (the original
// stays available as a tooltip).
export function friendlyError(message) {
  const m = String(message || "");
  if (/is a required property|Missing data for required field|required/i.test(m)) return t("err_required");
  if (/is not one of|Must be one of/i.test(m)) return t("err_enum");
  if (/should be non-empty|is too short|Shorter than minimum length|minLength/i.test(m)) {
    return /\[\]/.test(m) ? t("err_min_items") : t("err_min_length");
  }
  if (/is not a 'date(-time)?'|Not a valid date/i.test(m)) return t("err_date");
  if (/is in the future/i.test(m)) return t("err_future");
  if (/is less than( or equal to)? the minimum|greater than or equal/i.test(m)) return t("err_minimum");
  if (/is greater than( or equal to)? the maximum|less than or equal/i.test(m)) return t("err_maximum");
  if (/does not match/i.test(m)) return t("err_pattern");
  if (/is not of type|Not a valid/i.test(m)) return t("err_type");
  return m;
}
